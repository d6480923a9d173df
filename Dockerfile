# syntax=docker/dockerfile:1
# itops-operator image for people with Docker or BuildKit. `make image` builds the same image
# without a daemon (hack/image, docs/image.md): a static binary (CGO_ENABLED=0, -trimpath, the
# same -ldflags), user 65532, entrypoint /itops-operator, no shell, the same OCI labels.
#
#   make docker-build PLATFORMS=linux/amd64,linux/arm64     # passes the build args below
#   docker buildx build --platform linux/amd64 --build-arg VERSION=0.1.0 \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_DATE=2026-12-01T00:00:00Z \
#     --sbom=true -t ghcr.io/itops-dev/itops-operator:0.1.0 .

FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
ARG TARGETOS TARGETARCH
ARG VERSION=unknown COMMIT=unknown BUILD_DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X github.com/itops-dev/itops-operator/internal/version.version=${VERSION} -X github.com/itops-dev/itops-operator/internal/version.commit=${COMMIT} -X github.com/itops-dev/itops-operator/internal/version.date=${BUILD_DATE}" \
    -o /out/itops-operator ./cmd

# gcr.io/distroless/static:nonroot: CA certificates, /etc/passwd with nonroot (65532), no shell.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=unknown COMMIT=unknown BUILD_DATE=unknown
LABEL org.opencontainers.image.title="itops-operator" \
      org.opencontainers.image.description="ITIL incident, change, maintenance and service-level management for Kubernetes." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.source="https://github.com/itops-dev/itops-operator" \
      org.opencontainers.image.url="https://github.com/itops-dev/itops-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="itops-dev"
COPY --from=build /out/itops-operator /itops-operator
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/itops-operator"]
