package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// The SBOM is SPDX 2.3 JSON written by this small piece of code rather than a library: the Go
// build information (debug/buildinfo) already lists every module linked into the binary with
// its version and go.sum hash, and the SPDX packages, purls and relationships below are all a
// scanner (Trivy, Grype, the GitHub dependency graph) reads. The SPDX and CycloneDX Go
// libraries would bring dozens of modules into go.mod for these 100 lines.

type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string            `json:"name"`
	SPDXID           string            `json:"SPDXID"`
	VersionInfo      string            `json:"versionInfo"`
	Supplier         string            `json:"supplier,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	LicenseConcluded string            `json:"licenseConcluded"`
	LicenseDeclared  string            `json:"licenseDeclared"`
	CopyrightText    string            `json:"copyrightText"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	Comment          string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// sbomFor returns the SPDX document of the binary at path: the main module (with the binary's
// SHA-256), the Go standard library and every dependency module (path, version, go.sum hash,
// purl), each DEPENDS_ON from the main module. version overrides the main module's version
// ("(devel)" in a source build); created is RFC 3339.
func sbomFor(path string, bi *debug.BuildInfo, version, created, source, license string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	platform := setting(bi, "GOOS") + "-" + setting(bi, "GOARCH")
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              fmt.Sprintf("%s-%s-%s", bi.Main.Path, version, platform),
		DocumentNamespace: fmt.Sprintf("%s/spdx/%s/%s/%s", strings.TrimSuffix(source, "/"), version, platform, hex.EncodeToString(sum[:])),
		CreationInfo:      spdxCreationInfo{Created: created, Creators: []string{"Tool: itops-operator hack/image", "Organization: itops-dev"}},
	}
	mainPkg := spdxPackage{
		Name: bi.Main.Path, SPDXID: "SPDXRef-Package-main", VersionInfo: version, DownloadLocation: source,
		LicenseConcluded: license, LicenseDeclared: license, CopyrightText: "NOASSERTION",
		Checksums:    []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: hex.EncodeToString(sum[:])}},
		ExternalRefs: []spdxExternalRef{purl(bi.Main.Path, version)},
		Comment:      "the binary " + path + " built with " + bi.GoVersion + " for " + platform,
	}
	stdlib := spdxPackage{
		Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: bi.GoVersion, DownloadLocation: "https://go.dev/dl/",
		LicenseConcluded: "NOASSERTION", LicenseDeclared: "BSD-3-Clause", CopyrightText: "NOASSERTION",
		ExternalRefs: []spdxExternalRef{purl("stdlib", bi.GoVersion)},
	}
	doc.Packages = append(doc.Packages, mainPkg, stdlib)
	doc.Relationships = append(doc.Relationships,
		spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", mainPkg.SPDXID},
		spdxRelationship{mainPkg.SPDXID, "DEPENDS_ON", stdlib.SPDXID})
	for i, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		p := spdxPackage{
			Name: d.Path, SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i), VersionInfo: d.Version,
			DownloadLocation: "https://proxy.golang.org/" + d.Path + "/@v/" + d.Version + ".zip",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			ExternalRefs: []spdxExternalRef{purl(d.Path, d.Version)},
		}
		if h, ok := strings.CutPrefix(d.Sum, "h1:"); ok {
			if b, err := base64.StdEncoding.DecodeString(h); err == nil {
				p.Checksums = []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: hex.EncodeToString(b)}}
				p.Comment = "go.sum " + d.Sum + " (the SHA-256 above is this dirhash, not of a file)"
			}
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainPkg.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	return json.MarshalIndent(doc, "", "  ")
}

// purl is the package URL of a Go module (https://github.com/package-url/purl-spec, type golang).
func purl(path, version string) spdxExternalRef {
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl",
		ReferenceLocator: "pkg:golang/" + path + "@" + version}
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
