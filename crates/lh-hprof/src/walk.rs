//! One pass over an HPROF stream: records and heap-dump sub-records, decoded
//! into calls on a [`Visitor`]. Passes differ only in what their visitor keeps,
//! so the format is decoded (and checked) in exactly one place.

use crate::input::Input;
use crate::{Error, RootKind};
use std::io::Read;

/// The dump's header: version (1, 2 or 3 of `JAVA PROFILE 1.0.x`) and identifier size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The `x` of `1.0.x`.
    pub version: u8,
    /// Bytes of every object and string id in the dump: 4 or 8.
    pub id_size: u8,
}

/// One static field of a class dump.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Static {
    pub name: u64,
    pub ty: u8,
    pub value: u64,
}

/// A class dump, with its field lists borrowed from the walker's scratch space.
pub(crate) struct ClassDump<'a> {
    pub id: u64,
    pub super_id: u64,
    pub loader: u64,
    pub statics: &'a [Static],
    /// (name string id, basic type) in declaration order.
    pub fields: &'a [(u64, u8)],
}

/// What a pass does with each record. Errors are plain messages; the walker
/// adds offset and record.
pub(crate) trait Visitor {
    fn utf8(&mut self, _id: u64, _text: &[u8]) {}
    fn load_class(&mut self, _class: u64, _name: u64) {}
    fn root(&mut self, _kind: RootKind, _id: u64) {}
    fn class_dump(&mut self, _c: &ClassDump<'_>) -> Result<(), String> {
        Ok(())
    }
    fn instance(&mut self, _id: u64, _class: u64, _fields: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn obj_array(&mut self, _id: u64, _class: u64, _elems: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn prim_array(&mut self, _id: u64, _ty: u8, _len: u32) {}
}

/// Size in bytes of an HPROF basic type, or `None` for a code that is not one.
#[inline]
pub(crate) fn type_size(ty: u8, id_size: u8) -> Option<u32> {
    Some(match ty {
        2 => u32::from(id_size),
        4 | 8 => 1,
        5 | 9 => 2,
        6 | 10 => 4,
        7 | 11 => 8,
        _ => return None,
    })
}

/// Reads the `JAVA PROFILE 1.0.x` header.
pub(crate) fn header<R: Read>(inp: &mut Input<R>) -> Result<Header, Error> {
    let mut name = Vec::with_capacity(20);
    loop {
        let b = match inp.u8() {
            Ok(b) => b,
            Err(_) if !name.starts_with(b"JAVA PROFILE") => {
                return Err(Error::NotHprof(
                    "it does not start with `JAVA PROFILE 1.0.x`".into(),
                ))
            }
            Err(e) => return Err(e),
        };
        if b == 0 {
            break;
        }
        name.push(b);
        if name.len() > 32 || !b"JAVA PROFILE 1.0.".starts_with(&name[..name.len().min(17)]) {
            return Err(Error::NotHprof(
                "it does not start with `JAVA PROFILE 1.0.x`".into(),
            ));
        }
    }
    let version = match &name[..] {
        b"JAVA PROFILE 1.0.1" => 1,
        b"JAVA PROFILE 1.0.2" => 2,
        b"JAVA PROFILE 1.0.3" => 3,
        other => {
            return Err(inp.error(format!(
                "unsupported HPROF version `{}` (1.0.1, 1.0.2 and 1.0.3 are read)",
                String::from_utf8_lossy(other)
            )))
        }
    };
    let at = inp.offset();
    let id_size = inp.u32()?;
    if id_size != 4 && id_size != 8 {
        return Err(inp.error_at(
            at,
            format!("identifier size {id_size} is not supported (HPROF uses 4 or 8)"),
        ));
    }
    inp.u64()?; // timestamp
    Ok(Header {
        version,
        id_size: id_size as u8,
    })
}

/// How often (in stream bytes) the walker calls `tick`.
const TICK: u64 = 32 << 20;

/// Walks every record after the header, calling `tick` every few megabytes.
pub(crate) fn walk<R: Read, V: Visitor>(
    inp: &mut Input<R>,
    h: Header,
    v: &mut V,
    tick: &mut dyn FnMut(),
) -> Result<(), Error> {
    let ids = h.id_size;
    let idn = usize::from(ids);
    let mut next_tick = TICK;
    let mut statics: Vec<Static> = Vec::new();
    let mut fields: Vec<(u64, u8)> = Vec::new();
    loop {
        inp.ctx.sub = None;
        inp.ctx.tag = None;
        if inp.at_end()? {
            return Ok(());
        }
        let at = inp.offset();
        if at >= next_tick {
            tick();
            next_tick = at + TICK;
        }
        let tag = inp.u8()?;
        inp.ctx.tag = Some(tag);
        inp.ctx.tag_at = at;
        inp.u32()?; // time
        let len = u64::from(inp.u32()?);
        match tag {
            0x01 => {
                if len < ids as u64 {
                    return Err(inp.error(format!(
                        "a UTF8 record of {len} bytes has no room for its id"
                    )));
                }
                let id = inp.id(ids)?;
                let text = inp.bytes((len - ids as u64) as usize)?;
                v.utf8(id, text);
            }
            0x02 => {
                if len != 8 + 2 * ids as u64 {
                    return Err(inp.error(format!(
                        "a LOAD_CLASS record must be {} bytes, not {len}",
                        8 + 2 * idn
                    )));
                }
                inp.u32()?;
                let class = inp.id(ids)?;
                inp.u32()?;
                let name = inp.id(ids)?;
                v.load_class(class, name);
            }
            0x03..=0x07 | 0x0A | 0x0B | 0x0D | 0x0E => inp.skip(len)?,
            0x0C | 0x1C => {
                let end = inp.offset() + len;
                heap_dump(
                    inp,
                    ids,
                    end,
                    v,
                    &mut statics,
                    &mut fields,
                    &mut next_tick,
                    tick,
                )?;
            }
            0x2C => inp.skip(len)?,
            _ => {
                return Err(inp.error_at(at, format!("unknown record tag 0x{tag:02x}")));
            }
        }
    }
}

/// The sub-records of one HEAP_DUMP or HEAP_DUMP_SEGMENT, which ends at byte `end`.
#[allow(clippy::too_many_arguments)]
fn heap_dump<R: Read, V: Visitor>(
    inp: &mut Input<R>,
    ids: u8,
    end: u64,
    v: &mut V,
    statics: &mut Vec<Static>,
    fields: &mut Vec<(u64, u8)>,
    next_tick: &mut u64,
    tick: &mut dyn FnMut(),
) -> Result<(), Error> {
    let idn = usize::from(ids);
    loop {
        let at = inp.offset();
        inp.ctx.sub = None;
        if at >= end {
            return Ok(());
        }
        if at >= *next_tick {
            tick();
            *next_tick = at + TICK;
        }
        let sub = inp.u8()?;
        inp.ctx.sub = Some(sub);
        inp.ctx.sub_at = at;
        // The fixed-size sub-records: roots.
        let root = |k| Some(k);
        let (kind, extra) = match sub {
            0xFF => (root(RootKind::Unknown), 0),
            0x01 => (root(RootKind::JniGlobal), idn),
            0x02 => (root(RootKind::JniLocal), 8),
            0x03 => (root(RootKind::JavaFrame), 8),
            0x04 => (root(RootKind::NativeStack), 4),
            0x05 => (root(RootKind::SystemClass), 0),
            0x06 => (root(RootKind::ThreadBlock), 4),
            0x07 => (root(RootKind::MonitorUsed), 0),
            0x08 => (root(RootKind::Thread), 8),
            0x89 => (root(RootKind::InternedString), 0),
            0x8A => (root(RootKind::Finalizing), 0),
            0x8B => (root(RootKind::Debugger), 0),
            0x8C => (root(RootKind::ReferenceCleanup), 0),
            0x8D => (root(RootKind::VmInternal), 0),
            0x8E => (root(RootKind::JniMonitor), 8),
            // UNREACHABLE (Android): listed, but holds nothing alive.
            0x90 => (None, 0),
            // HEAP_DUMP_INFO (Android): heap type and name id.
            0xFE => (None, 0),
            _ => (None, usize::MAX),
        };
        match sub {
            0xFE => {
                inp.u32()?;
                inp.id(ids)?;
            }
            0x20 => class_dump(inp, ids, v, statics, fields)?,
            0x21 => {
                let id = inp.id(ids)?;
                inp.u32()?;
                let class = inp.id(ids)?;
                let n = u64::from(inp.u32()?);
                check_room(inp, n, end)?;
                let body = inp.bytes(n as usize)?;
                v.instance(id, class, body).map_err(|m| inp.error(m))?;
            }
            0x22 => {
                let id = inp.id(ids)?;
                inp.u32()?;
                let n = u64::from(inp.u32()?);
                let class = inp.id(ids)?;
                let bytes = n * ids as u64;
                check_room(inp, bytes, end)?;
                let body = inp.bytes(bytes as usize)?;
                v.obj_array(id, class, body).map_err(|m| inp.error(m))?;
            }
            0x23 | 0xC3 => {
                let id = inp.id(ids)?;
                inp.u32()?;
                let n = inp.u32()?;
                let ty = inp.u8()?;
                let size = match type_size(ty, ids) {
                    Some(s) if ty != 2 => s,
                    _ => {
                        return Err(
                            inp.error(format!("0x{ty:02x} is not a primitive array element type"))
                        )
                    }
                };
                if sub == 0x23 {
                    let bytes = u64::from(n) * u64::from(size);
                    check_room(inp, bytes, end)?;
                    inp.skip(bytes)?;
                }
                v.prim_array(id, ty, n);
            }
            _ if extra == usize::MAX => {
                return Err(
                    inp.error_at(at, format!("unknown heap-dump sub-record tag 0x{sub:02x}"))
                );
            }
            _ => {
                let id = inp.id(ids)?;
                inp.skip(extra as u64)?;
                if let Some(k) = kind {
                    v.root(k, id);
                }
            }
        }
        if inp.offset() > end {
            return Err(inp.error_at(
                at,
                format!(
                    "the sub-record runs past the end of its segment (which ends at byte {end})"
                ),
            ));
        }
    }
}

/// Fails unless `n` more bytes fit in the segment that ends at `end`.
fn check_room<R: Read>(inp: &Input<R>, n: u64, end: u64) -> Result<(), Error> {
    if inp.offset() + n > end {
        return Err(inp.error(format!(
            "a body of {n} bytes runs past the end of its segment (which ends at byte {end})"
        )));
    }
    Ok(())
}

fn class_dump<R: Read, V: Visitor>(
    inp: &mut Input<R>,
    ids: u8,
    v: &mut V,
    statics: &mut Vec<Static>,
    fields: &mut Vec<(u64, u8)>,
) -> Result<(), Error> {
    let id = inp.id(ids)?;
    inp.u32()?;
    let super_id = inp.id(ids)?;
    let loader = inp.id(ids)?;
    inp.skip(4 * u64::from(ids))?; // signers, protection domain, two reserved
    inp.u32()?; // instance size: recomputed from the fields, which are authoritative
    let value = |inp: &mut Input<R>, ty: u8| -> Result<u64, Error> {
        Ok(match type_size(ty, ids) {
            Some(1) => u64::from(inp.u8()?),
            Some(2) => u64::from(inp.u16()?),
            Some(4) => u64::from(inp.u32()?),
            Some(_) => inp.u64()?,
            None => return Err(inp.error(format!("0x{ty:02x} is not an HPROF basic type"))),
        })
    };
    let pool = inp.u16()?;
    for _ in 0..pool {
        inp.u16()?;
        let ty = inp.u8()?;
        value(inp, ty)?;
    }
    statics.clear();
    for _ in 0..inp.u16()? {
        let name = inp.id(ids)?;
        let ty = inp.u8()?;
        let value = value(inp, ty)?;
        statics.push(Static { name, ty, value });
    }
    fields.clear();
    for _ in 0..inp.u16()? {
        let name = inp.id(ids)?;
        let ty = inp.u8()?;
        if type_size(ty, ids).is_none() {
            return Err(inp.error(format!("0x{ty:02x} is not an HPROF basic type")));
        }
        fields.push((name, ty));
    }
    v.class_dump(&ClassDump {
        id,
        super_id,
        loader,
        statics,
        fields,
    })
    .map_err(|m| inp.error(m))
}
