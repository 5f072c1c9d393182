// Package elfcheck checks that a binary can be the entrypoint of a Linux image of a given
// platform: an ELF executable for its architecture, statically linked. graft checks every
// graft-launcher it puts in an image with it, and the binaries of its own CI image.
package elfcheck

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// elfArch is what an ELF header says for each GOARCH graft can put a launcher in.
var elfArch = map[string]struct {
	machine elf.Machine
	class   elf.Class
	order   binary.ByteOrder
}{
	"amd64":    {elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian},
	"arm64":    {elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian},
	"arm":      {elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian},
	"386":      {elf.EM_386, elf.ELFCLASS32, binary.LittleEndian},
	"ppc64le":  {elf.EM_PPC64, elf.ELFCLASS64, binary.LittleEndian},
	"ppc64":    {elf.EM_PPC64, elf.ELFCLASS64, binary.BigEndian},
	"s390x":    {elf.EM_S390, elf.ELFCLASS64, binary.BigEndian},
	"riscv64":  {elf.EM_RISCV, elf.ELFCLASS64, binary.LittleEndian},
	"loong64":  {elf.EM_LOONGARCH, elf.ELFCLASS64, binary.LittleEndian},
	"mips64le": {elf.EM_MIPS, elf.ELFCLASS64, binary.LittleEndian},
}

// Static makes sure a binary runs as PID 1 of an image for p: an executable ELF for p's
// architecture, statically linked. A dynamically linked one (cgo, which `go build` uses
// where a C compiler is installed) names an interpreter the image may lack; the container then
// dies at start with "exec /usr/local/bin/graft-launcher: no such file or directory".
func Static(data []byte, p v1.Platform) error {
	if p.OS != "linux" {
		return fmt.Errorf("images for %s: graft-launcher runs on linux only", p.String())
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF executable (%v)", err)
	}
	defer f.Close()
	want, known := elfArch[p.Architecture]
	switch {
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("an ELF %s, not an executable", f.Type)
	case known && (f.Machine != want.machine || f.Class != want.class || f.ByteOrder != want.order):
		return fmt.Errorf("built for %s (%s), the image is %s", machineName(f), f.Class, p.String())
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("built for OS ABI %s, the image is linux", f.OSABI)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			interp := make([]byte, min(prog.Filesz, 256))
			n, _ := prog.ReadAt(interp, 0)
			return fmt.Errorf("dynamically linked (interpreter %s), which the image may not have", bytes.TrimRight(interp[:n], "\x00"))
		}
	}
	return nil
}

func machineName(f *elf.File) string {
	for arch, a := range elfArch {
		if a.machine == f.Machine && a.class == f.Class && a.order == f.ByteOrder {
			return arch
		}
	}
	return f.Machine.String()
}
