//! Reading one exported `u32` (a SPANK plugin's `plugin_version`) from
//! the bytes of an ELF64 shared object: the dynamic symbol table gives the
//! symbol's address, the LOAD segment holding it gives its place in the
//! file. Every offset and size comes from the file, so each is checked
//! against the buffer before use; a malformed file is an error, never a
//! panic. (tests/cluster/check-series.sh reads it the same way with
//! nm, readelf and od.)

use std::fmt;

const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;
const SHN_UNDEF: u16 = 0;
const SYM_SIZE: u64 = 24;
const SHDR_SIZE: u64 = 64;
const PHDR_SIZE: u64 = 56;
/// More dynamic symbols than any plugin has; a bound on the walk.
const MAX_SYMBOLS: u64 = 1 << 20;

/// Why the value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(msg.into()))
}

/// `a + b` for offsets read from the file, which may be anything.
fn add(a: u64, b: u64) -> Result<u64, ElfError> {
    a.checked_add(b)
        .ok_or_else(|| ElfError("it is malformed (an offset past 2^64)".into()))
}

/// `i * size` (the `i`th table entry), likewise.
fn entry(table: u64, i: u64, size: u64) -> Result<u64, ElfError> {
    add(
        table,
        i.checked_mul(size)
            .ok_or_else(|| ElfError("it is malformed (a table past 2^64)".into()))?,
    )
}

/// The file's bytes, read in its byte order.
struct Elf<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl<'a> Elf<'a> {
    fn slice(&self, off: u64, len: u64) -> Result<&'a [u8], ElfError> {
        let end = off.checked_add(len);
        match (
            usize::try_from(off),
            end.and_then(|e| usize::try_from(e).ok()),
        ) {
            (Ok(s), Some(e)) if e <= self.bytes.len() => Ok(&self.bytes[s..e]),
            _ => err(format!(
                "it is truncated or malformed (needs bytes {off}..+{len}, has {})",
                self.bytes.len()
            )),
        }
    }

    fn u16(&self, off: u64) -> Result<u16, ElfError> {
        let b: [u8; 2] = self.slice(off, 2)?.try_into().expect("2 bytes");
        Ok(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, off: u64) -> Result<u32, ElfError> {
        let b: [u8; 4] = self.slice(off, 4)?.try_into().expect("4 bytes");
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn u64(&self, off: u64) -> Result<u64, ElfError> {
        let b: [u8; 8] = self.slice(off, 8)?.try_into().expect("8 bytes");
        Ok(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }

    /// Section header `i`: (type, offset, size, link, entsize).
    fn section(&self, shoff: u64, i: u64) -> Result<(u32, u64, u64, u32, u64), ElfError> {
        let at = entry(shoff, i, SHDR_SIZE)?;
        Ok((
            self.u32(add(at, 4)?)?,
            self.u64(add(at, 24)?)?,
            self.u64(add(at, 32)?)?,
            self.u32(add(at, 40)?)?,
            self.u64(add(at, 56)?)?,
        ))
    }
}

/// The value of the defined dynamic symbol `name`, a `u32`, in the ELF64
/// shared object `bytes`.
pub fn exported_u32(bytes: &[u8], name: &str) -> Result<u32, ElfError> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return err("it is not an ELF file");
    }
    if bytes.get(4) != Some(&2) {
        return err("it is not a 64-bit ELF file");
    }
    let little = match bytes.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return err("its ELF byte order is unknown"),
    };
    let elf = Elf { bytes, little };
    let phoff = elf.u64(0x20)?;
    let shoff = elf.u64(0x28)?;
    let phentsize = u64::from(elf.u16(0x36)?);
    let phnum = u64::from(elf.u16(0x38)?);
    let shentsize = u64::from(elf.u16(0x3a)?);
    let shnum = u64::from(elf.u16(0x3c)?);
    if shnum == 0 || shentsize != SHDR_SIZE {
        return err("it has no usable section table");
    }
    let addr = symbol_value(&elf, shoff, shnum, name)?;
    if phentsize != PHDR_SIZE {
        return err("it has no usable program header table");
    }
    for i in 0..phnum {
        let at = entry(phoff, i, PHDR_SIZE)?;
        if elf.u32(at)? != PT_LOAD {
            continue;
        }
        let offset = elf.u64(add(at, 8)?)?;
        let vaddr = elf.u64(add(at, 16)?)?;
        let filesz = elf.u64(add(at, 32)?)?;
        let end = vaddr.checked_add(filesz);
        if addr >= vaddr && addr.checked_add(4).is_some_and(|a| Some(a) <= end) {
            return elf.u32(add(addr - vaddr, offset)?);
        }
    }
    err(format!(
        "`{name}` (address {addr:#x}) lies in no LOAD segment of the file"
    ))
}

/// The address of the defined dynamic symbol `name`.
fn symbol_value(elf: &Elf, shoff: u64, shnum: u64, name: &str) -> Result<u64, ElfError> {
    for i in 0..shnum {
        let (kind, offset, size, link, entsize) = elf.section(shoff, i)?;
        if kind != SHT_DYNSYM {
            continue;
        }
        if entsize != SYM_SIZE {
            return err("its dynamic symbol table is malformed");
        }
        if u64::from(link) >= shnum {
            return err("its dynamic symbol table names no string table");
        }
        let (_, str_off, str_size, _, _) = elf.section(shoff, u64::from(link))?;
        let strtab = elf.slice(str_off, str_size)?;
        let count = (size / SYM_SIZE).min(MAX_SYMBOLS);
        for s in 0..count {
            let at = entry(offset, s, SYM_SIZE)?;
            let name_off = elf.u32(at)? as usize;
            let Some(rest) = strtab.get(name_off..) else {
                continue;
            };
            let sym_name = rest.split(|&b| b == 0).next().unwrap_or_default();
            if sym_name == name.as_bytes() && elf.u16(add(at, 6)?)? != SHN_UNDEF {
                return elf.u64(add(at, 8)?);
            }
        }
        return err(format!("it defines no dynamic symbol `{name}`"));
    }
    err("it has no dynamic symbol table (not a shared object?)")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 shared object defining `symbols` (name, value as
    /// the u32 at its address); `little`: byte order.
    pub(crate) fn shared_object(symbols: &[(&str, u32)], little: bool) -> Vec<u8> {
        let put16 = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let put32 = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let put64 = |v: u64| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        // Layout: header (64), one phdr (56) at 64, data at 0x100,
        // dynstr at 0x200, dynsym at 0x300, section headers at 0x800.
        let vbase: u64 = 0x1000;
        let mut f = vec![0u8; 0x800 + 4 * 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = if little { 1 } else { 2 };
        f[6] = 1;
        f[0x20..0x28].copy_from_slice(&put64(64));
        f[0x28..0x30].copy_from_slice(&put64(0x800));
        f[0x36..0x38].copy_from_slice(&put16(56));
        f[0x38..0x3a].copy_from_slice(&put16(1));
        f[0x3a..0x3c].copy_from_slice(&put16(64));
        f[0x3c..0x3e].copy_from_slice(&put16(4));
        // PT_LOAD: file 0x100.. at vaddr vbase + 0x100.
        f[64..68].copy_from_slice(&put32(PT_LOAD));
        f[64 + 8..64 + 16].copy_from_slice(&put64(0x100));
        f[64 + 16..64 + 24].copy_from_slice(&put64(vbase + 0x100));
        f[64 + 32..64 + 40].copy_from_slice(&put64(0x100));
        let mut strtab = vec![0u8];
        // Symbol 0 is the null symbol; then an undefined one of the same
        // name as the first (it must be skipped), then the definitions.
        let mut syms: Vec<(u32, u16, u64)> = vec![(0, 0, 0)];
        for (i, (name, value)) in symbols.iter().enumerate() {
            let name_at = strtab.len() as u32;
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
            if i == 0 {
                syms.push((name_at, SHN_UNDEF, 0));
            }
            let data_at = 0x100 + 4 * i;
            f[data_at..data_at + 4].copy_from_slice(&put32(*value));
            syms.push((name_at, 3, vbase + data_at as u64));
        }
        f[0x200..0x200 + strtab.len()].copy_from_slice(&strtab);
        for (i, (name, shndx, value)) in syms.iter().enumerate() {
            let at = 0x300 + i * 24;
            f[at..at + 4].copy_from_slice(&put32(*name));
            f[at + 6..at + 8].copy_from_slice(&put16(*shndx));
            f[at + 8..at + 16].copy_from_slice(&put64(*value));
        }
        // Sections: 0 null, 1 .dynsym (link 2), 2 .dynstr, 3 data.
        let mut sh = |i: usize, kind: u32, off: u64, size: u64, link: u32, entsize: u64| {
            let at = 0x800 + i * 64;
            f[at + 4..at + 8].copy_from_slice(&put32(kind));
            f[at + 24..at + 32].copy_from_slice(&put64(off));
            f[at + 32..at + 40].copy_from_slice(&put64(size));
            f[at + 40..at + 44].copy_from_slice(&put32(link));
            f[at + 56..at + 64].copy_from_slice(&put64(entsize));
        };
        sh(1, SHT_DYNSYM, 0x300, syms.len() as u64 * 24, 2, 24);
        sh(2, 3, 0x200, strtab.len() as u64, 0, 0);
        sh(3, 1, 0x100, 0x100, 0, 0);
        f
    }

    #[test]
    fn reads_the_plugin_version() {
        for little in [true, false] {
            let so = shared_object(
                &[
                    ("plugin_name", 7),
                    ("plugin_version", 0x180b05),
                    ("plugin_type", 9),
                ],
                little,
            );
            assert_eq!(exported_u32(&so, "plugin_version"), Ok(0x180b05));
            assert_eq!(exported_u32(&so, "plugin_name"), Ok(7), "the defined one");
            assert_eq!(
                exported_u32(&so, "plugin_versio"),
                err("it defines no dynamic symbol `plugin_versio`")
            );
        }
    }

    /// A real shared object (gcc -shared, stripped) defining
    /// `const unsigned int plugin_version = 0x160508;`.
    #[test]
    fn reads_a_real_shared_object() {
        let so = include_bytes!("../testdata/elf/plugin_version-0x160508.so");
        assert_eq!(exported_u32(so, "plugin_version"), Ok(0x160508));
        assert_eq!(
            exported_u32(so, "__cxa_finalize"),
            err("it defines no dynamic symbol `__cxa_finalize`"),
            "undefined (imported) symbols are not read"
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        let so = shared_object(&[("plugin_version", 0x160508)], true);
        assert_eq!(
            exported_u32(b"#!/bin/sh\n", "x"),
            err("it is not an ELF file")
        );
        let mut c32 = so.clone();
        c32[4] = 1;
        assert_eq!(
            exported_u32(&c32, "plugin_version"),
            err("it is not a 64-bit ELF file")
        );
        // Every truncation of what the reader needs (all but the last
        // section header): an error, never a panic (nor a wrong value).
        for len in 0..0x800 + 3 * 64 {
            assert!(exported_u32(&so[..len], "plugin_version").is_err(), "{len}");
        }
        // Offsets and sizes pointing anywhere: errors, no panic.
        for at in [
            0x20,
            0x28,
            0x36,
            0x38,
            0x3c,
            0x800 + 64 + 24,
            0x800 + 64 + 32,
        ] {
            for v in [0xffu8, 0x7f, 0x80] {
                let mut bad = so.clone();
                for b in &mut bad[at..at + 2] {
                    *b = v;
                }
                let _ = exported_u32(&bad, "plugin_version");
            }
        }
        // Offsets near 2^64 (fuzzing found the section table's): errors,
        // not an overflow.
        for at in [0x20, 0x28] {
            let mut far = so.clone();
            far[at..at + 8].copy_from_slice(&(u64::MAX - 2).to_le_bytes());
            assert!(exported_u32(&far, "plugin_version").is_err(), "{at:#x}");
        }
        let mut far = so.clone();
        far[0x800 + 64 + 24..0x800 + 64 + 32].copy_from_slice(&(u64::MAX - 30).to_le_bytes());
        assert!(exported_u32(&far, "plugin_version").is_err());
        // The symbol outside every LOAD segment.
        let mut moved = so.clone();
        moved[64 + 16..64 + 24].copy_from_slice(&0x9000u64.to_le_bytes());
        assert!(
            exported_u32(&moved, "plugin_version")
                .unwrap_err()
                .0
                .contains("lies in no LOAD segment"),
        );
        // No dynamic symbol table.
        let mut nosym = so.clone();
        nosym[0x800 + 64 + 4..0x800 + 64 + 8].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            exported_u32(&nosym, "plugin_version"),
            err("it has no dynamic symbol table (not a shared object?)")
        );
    }
}
