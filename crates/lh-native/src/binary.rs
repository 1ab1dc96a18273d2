//! One mapped ELF file: its loadable segments, its DWARF (or that of its
//! separate debug file, found by build id) and its symbol table.

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::rc::Rc;

type Reader = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// One frame of a resolved address, innermost first as pprof orders lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The symbol as written in the binary (mangled, for C++ and Rust).
    pub name: String,
    pub file: String,
    pub line: u32,
}

pub struct Binary {
    /// `(file offset, file size, virtual address)` of each loadable segment.
    segments: Vec<(u64, u64, u64)>,
    dwarf: Option<addr2line::Context<Reader>>,
    /// Defined text symbols, sorted by address.
    symbols: Vec<(u64, u64, String)>,
}

impl Binary {
    /// Reads the whole file rather than mapping it: mapped pages count toward
    /// leakhound's RSS as read ones do, and a map is only sound (hence
    /// `unsafe`) if no one truncates or rewrites the file while it is mapped,
    /// which a deploy or a package upgrade may do to a running binary. The
    /// DWARF sections are copied out of it either way.
    pub fn open(path: &Path) -> Result<Binary, String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        Binary::parse(path, &data)
    }

    /// [`Binary::open`] over bytes already read; `path` is where they came
    /// from, to find a separate debug file next to it.
    fn parse(path: &Path, data: &[u8]) -> Result<Binary, String> {
        let obj = object::File::parse(data).map_err(|e| format!("not an ELF file ({e})"))?;
        let segments = obj
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        let mut symbols: Vec<(u64, u64, String)> = obj
            .symbols()
            .chain(obj.dynamic_symbols())
            .filter(|s| s.is_definition() && s.kind() == object::SymbolKind::Text)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .filter(|(_, _, n)| !n.is_empty())
            .collect();
        symbols.sort();
        symbols.dedup_by_key(|s| s.0);
        let mut dwarf = load_dwarf(&obj);
        if dwarf.is_none() {
            if let Some(debug) = debug_file(path, &obj) {
                if let Ok(data) = std::fs::read(&debug) {
                    if let Ok(dobj) = object::File::parse(&*data) {
                        dwarf = load_dwarf(&dobj);
                    }
                }
            }
        }
        Ok(Binary {
            segments,
            dwarf,
            symbols,
        })
    }

    pub fn has_dwarf(&self) -> bool {
        self.dwarf.is_some()
    }

    /// The binary's own address for a file offset, from the segment that loads it.
    /// `None` when no segment loads it, or when the segment's header is
    /// broken (its addresses run past the end of the address space): such an
    /// address stays unsymbolized, as one in no segment does.
    pub fn svma(&self, file_offset: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(off, size, _)| *off <= file_offset && file_offset - off < *size)
            .and_then(|(off, _, vaddr)| (file_offset - off).checked_add(*vaddr))
    }

    /// The frames at `svma`: DWARF's, inlined calls first; else the symbol.
    pub fn frames(&self, svma: u64) -> Vec<Frame> {
        let mut out = Vec::new();
        if let Some(ctx) = &self.dwarf {
            if let Ok(mut it) = ctx.find_frames(svma).skip_all_loads() {
                while let Ok(Some(f)) = it.next() {
                    let name = f
                        .function
                        .as_ref()
                        .and_then(|n| n.raw_name().ok().map(Cow::into_owned));
                    let (file, line) = f
                        .location
                        .as_ref()
                        .map(|l| (l.file.unwrap_or_default().to_string(), l.line.unwrap_or(0)))
                        .unwrap_or_default();
                    match name {
                        Some(name) => out.push(Frame { name, file, line }),
                        // A line without its function: name it from the symbol table.
                        None => out.extend(self.symbol(svma).map(|name| Frame {
                            name: name.to_string(),
                            file,
                            line,
                        })),
                    }
                }
            }
        }
        if out.is_empty() {
            out.extend(self.symbol(svma).map(|name| Frame {
                name: name.to_string(),
                file: String::new(),
                line: 0,
            }));
        }
        out
    }

    /// The text symbol containing `svma`, or the nearest before it when the
    /// table gives no sizes.
    fn symbol(&self, svma: u64) -> Option<&str> {
        let i = self
            .symbols
            .partition_point(|s| s.0 <= svma)
            .checked_sub(1)?;
        let (addr, size, name) = &self.symbols[i];
        (*size == 0 || svma - addr < *size).then_some(name.as_str())
    }
}

/// The DWARF of an object, or `None` where it has none.
fn load_dwarf(obj: &object::File<'_>) -> Option<addr2line::Context<Reader>> {
    obj.section_by_name(".debug_info")?;
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let data = obj
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[]));
        Ok(gimli::EndianRcSlice::new(Rc::from(&*data), endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// A separate debug file, as Debian's `-dbgsym` packages install them: by
/// build id under `usr/lib/debug/.build-id`, next to where the binary was found
/// (so a `/proc/PID/root` or `--symbols` tree is searched, not this machine's).
fn debug_file(path: &Path, obj: &object::File<'_>) -> Option<PathBuf> {
    let id = obj.build_id().ok()??;
    if id.len() < 2 {
        return None;
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let rel = format!("usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..]);
    path.ancestors()
        .skip(1)
        .map(|root| root.join(&rel))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF header with one program header, a `PT_LOAD`
    /// at file offset 0 of `filesz` bytes, loaded at `vaddr`; no sections.
    fn elf_with_load(vaddr: u64, filesz: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
        b.extend_from_slice(&62u16.to_le_bytes()); // e_machine: x86-64
        b.extend_from_slice(&1u32.to_le_bytes()); // e_version
        b.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        b.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        b.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        b.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        for h in [64u16, 56, 1, 64, 0, 0] {
            // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
            b.extend_from_slice(&h.to_le_bytes());
        }
        b.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
        b.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R+X
        for v in [0, vaddr, vaddr, filesz, filesz, 0x1000] {
            // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn maps_a_file_offset_through_its_load_segment() {
        let bin = Binary::parse(
            Path::new("/nonexistent/a.out"),
            &elf_with_load(0x40_0000, 0x100),
        )
        .unwrap();
        assert_eq!(bin.svma(0x10), Some(0x40_0010));
        assert_eq!(bin.svma(0x100), None);
    }

    /// A segment loaded near the top of the address space: the offset plus the
    /// segment's address overflowed (a panic in debug builds, found by fuzzing).
    #[test]
    fn a_segment_past_the_address_space_leaves_the_address_unsymbolized() {
        let bin = Binary::parse(
            Path::new("/nonexistent/a.out"),
            &elf_with_load(u64::MAX - 0x10, 0x100),
        )
        .unwrap();
        assert_eq!(bin.svma(0x8), Some(u64::MAX - 0x8));
        assert_eq!(bin.svma(0x80), None);
    }
}
