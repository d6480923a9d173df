package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// objectPrinter prints the object a command wrote: `-o json|yaml|name` through cli-runtime's
// printers, else the command's own human-readable line.
type objectPrinter struct {
	flags *genericclioptions.PrintFlags
}

func newObjectPrinter(cmd *cobra.Command, operation string) *objectPrinter {
	p := &objectPrinter{flags: genericclioptions.NewPrintFlags(operation).WithTypeSetter(Scheme)}
	p.flags.AddFlags(cmd)
	return p
}

// human reports whether no -o was given.
func (p *objectPrinter) human() bool {
	return p.flags.OutputFormat == nil || *p.flags.OutputFormat == ""
}

// print writes obj in the -o format, or line when none was given.
func (p *objectPrinter) print(w io.Writer, obj client.Object, line string) error {
	if p.human() {
		_, err := fmt.Fprintln(w, line)
		return err
	}
	if gvk, err := apiutil.GVKForObject(obj, Scheme); err == nil {
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
	printer, err := p.flags.ToPrinter()
	if err != nil {
		return err
	}
	obj.SetManagedFields(nil)
	return printer.PrintObj(obj.(runtime.Object), w)
}
