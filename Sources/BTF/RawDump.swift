#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Accumulates output bytes in a fixed buffer and hands full chunks to a sink: formatting never creates a
/// `String` per line.
struct DumpWriter: ~Copyable {
    static let capacity = 1 << 16
    let buffer: UnsafeMutablePointer<UInt8>
    var count = 0
    let sink: (UnsafeRawBufferPointer) -> Void

    init(sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        buffer = .allocate(capacity: Self.capacity)
        self.sink = sink
    }

    deinit { buffer.deallocate() }

    mutating func finish() {
        if count > 0 { sink(UnsafeRawBufferPointer(start: buffer, count: count)) }
        count = 0
    }

    @inline(__always)
    mutating func reserve(_ n: Int) {
        if count + n > Self.capacity { finish() }
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        reserve(1)
        buffer[count] = b
        count += 1
    }

    @inline(__always)
    mutating func literal(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        reserve(n)
        memcpy(buffer + count, text.utf8Start, n)
        count += n
    }

    mutating func bytes(_ pointer: UnsafeRawPointer, _ n: Int) {
        if n > Self.capacity / 2 {
            finish()
            sink(UnsafeRawBufferPointer(start: pointer, count: n))
            return
        }
        reserve(n)
        memcpy(buffer + count, pointer, n)
        count += n
    }

    @inline(__always)
    mutating func decimal(_ value: UInt64) {
        reserve(20)
        if value < 10 {
            buffer[count] = 0x30 + UInt8(value)
            count += 1
            return
        }
        var digits = 0
        var v = value
        while v > 0 { digits += 1; v /= 10 }
        v = value
        var i = count + digits - 1
        while v > 0 {
            buffer[i] = 0x30 + UInt8(v % 10)
            v /= 10
            i -= 1
        }
        count += digits
    }

    @inline(__always)
    mutating func decimal(_ value: UInt32) { decimal(UInt64(value)) }

    mutating func signedDecimal(_ value: Int64) {
        if value < 0 {
            byte(0x2D)
            decimal(value.magnitude)
        } else {
            decimal(UInt64(value))
        }
    }

    /// A JSON string with bpftool's escapes (`\t \n \r \f \b \\ \"`; other bytes as they are).
    mutating func jsonString(_ pointer: UnsafeRawPointer, _ n: Int) {
        byte(0x22)
        let p = pointer.assumingMemoryBound(to: UInt8.self)
        var start = 0
        for i in 0..<n {
            let escaped: StaticString
            switch p[i] {
            case 0x09: escaped = "\\t"
            case 0x0A: escaped = "\\n"
            case 0x0D: escaped = "\\r"
            case 0x0C: escaped = "\\f"
            case 0x08: escaped = "\\b"
            case 0x5C: escaped = "\\\\"
            case 0x22: escaped = "\\\""
            default: continue
            }
            if i > start { bytes(pointer + start, i - start) }
            literal(escaped)
            start = i + 1
        }
        if n > start { bytes(pointer + start, n - start) }
        byte(0x22)
    }
}

extension TypeGraph {
    /// Writes what `bpftool btf dump file FILE` prints (format raw) for this graph's own types, in chunks
    /// handed to `sink` (each valid only during the call). For split BTF only the split types are listed,
    /// as bpftool does.
    public func writeRawDump(to sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        var w = DumpWriter(sink: sink)
        withExtendedLifetime(self) {
            for index in 0..<offsets.count {
                rawDumpType(id: firstOwnID + UInt32(index), into: &w)
            }
        }
        w.finish()
    }

    /// The text `bpftool btf dump file FILE` prints, as bytes.
    public func rawDump() -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(offsets.count * 96)
        writeRawDump { result.append(contentsOf: $0) }
        return result
    }

    /// The bpftool text for one type (`[id] KIND 'name' ...` plus its indented member lines, with the final
    /// newline).
    /// - Throws: ``BTFError/Code/badTypeID``.
    public func rawDump(of id: UInt32) throws(BTFError) -> String {
        let (graph, _) = try locate(id)
        var result: [UInt8] = []
        var w = DumpWriter(sink: { result.append(contentsOf: $0) })
        graph.rawDumpType(id: id, into: &w)
        w.finish()
        return String(decoding: result, as: UTF8.self)
    }

    /// bpftool's quoted name: `(anon)` for offset 0.
    @inline(__always)
    func writeName(_ nameOffset: UInt32, into w: inout DumpWriter) {
        if nameOffset == 0 {
            w.literal("(anon)")
        } else if let (pointer, length) = stringPointer(at: nameOffset) {
            w.bytes(pointer, length)
        } else {
            w.literal("(invalid)")
        }
    }

    /// bpftool's kind name (`FUNC_PROTO`), `UNKNOWN` for kinds past the table.
    @inline(__always)
    func writeKindName(_ kind: UInt32, into w: inout DumpWriter) {
        w.literal(kind > 0 && Int(kind) < BTFKind.names.count ? BTFKind.names[Int(kind)] : "UNKNOWN")
    }

    func writeIntEncoding(_ encoding: UInt32, into w: inout DumpWriter) {
        switch encoding {
        case 0: w.literal("(none)")
        case 1: w.literal("SIGNED")
        case 2: w.literal("CHAR")
        case 4: w.literal("BOOL")
        default: w.literal("UNKN")
        }
    }

    func writeLinkage(_ linkage: UInt32, into w: inout DumpWriter) {
        switch linkage {
        case 0: w.literal("static")
        case 1: w.literal("global")
        case 2: w.literal("extern")
        default: w.literal("(unknown)")
        }
    }

    /// One type in bpftool's raw format; `id` must be one of this graph's own ids.
    func rawDumpType(id: UInt32, into w: inout DumpWriter) {
        let o = Int(offsets[Int(id - firstOwnID)])
        let r = reader
        let info = r.u32(o + 4)
        let kind = (info >> 24) & 0x1F
        let kindFlag = info >> 31 != 0
        let vlen = Int(info & 0xFFFF)
        let st = r.u32(o + 8)
        let body = o + 12
        w.byte(0x5B)
        w.decimal(id)
        w.literal("] ")
        writeKindName(kind, into: &w)
        w.literal(" '")
        writeName(r.u32(o), into: &w)
        w.byte(0x27)
        switch kind {
        case 1:
            let v = r.u32(body)
            w.literal(" size=")
            w.decimal(st)
            w.literal(" bits_offset=")
            w.decimal((v >> 16) & 0xFF)
            w.literal(" nr_bits=")
            w.decimal(v & 0xFF)
            w.literal(" encoding=")
            writeIntEncoding((v >> 24) & 0x0F, into: &w)
        case 2, 8, 9, 10, 11, 18:
            w.literal(" type_id=")
            w.decimal(st)
        case 3:
            w.literal(" type_id=")
            w.decimal(r.u32(body))
            w.literal(" index_type_id=")
            w.decimal(r.u32(body + 4))
            w.literal(" nr_elems=")
            w.decimal(r.u32(body + 8))
        case 4, 5:
            w.literal(" size=")
            w.decimal(st)
            w.literal(" vlen=")
            w.decimal(UInt64(vlen))
            var m = body
            for _ in 0..<vlen {
                w.literal("\n\t'")
                writeName(r.u32(m), into: &w)
                w.literal("' type_id=")
                w.decimal(r.u32(m + 4))
                w.literal(" bits_offset=")
                let packed = r.u32(m + 8)
                if kindFlag {
                    w.decimal(packed & 0xFF_FFFF)
                    if packed >> 24 != 0 {
                        w.literal(" bitfield_size=")
                        w.decimal(packed >> 24)
                    }
                } else {
                    w.decimal(packed)
                }
                m += 12
            }
        case 6, 19:
            w.literal(kindFlag ? " encoding=SIGNED size=" : " encoding=UNSIGNED size=")
            w.decimal(st)
            w.literal(" vlen=")
            w.decimal(UInt64(vlen))
            let stride = kind == 6 ? 8 : 12
            var m = body
            for _ in 0..<vlen {
                w.literal("\n\t'")
                writeName(r.u32(m), into: &w)
                w.literal("' val=")
                if kind == 6 {
                    let v = r.u32(m + 4)
                    if kindFlag {
                        w.signedDecimal(Int64(Int32(bitPattern: v)))
                    } else {
                        w.decimal(v)
                    }
                } else {
                    let v = UInt64(r.u32(m + 8)) << 32 | UInt64(r.u32(m + 4))
                    if kindFlag {
                        w.signedDecimal(Int64(bitPattern: v))
                        w.literal("LL")
                    } else {
                        w.decimal(v)
                        w.literal("ULL")
                    }
                }
                m += stride
            }
        case 7:
            w.literal(kindFlag ? " fwd_kind=union" : " fwd_kind=struct")
        case 12:
            w.literal(" type_id=")
            w.decimal(st)
            w.literal(" linkage=")
            writeLinkage(UInt32(vlen), into: &w)
        case 13:
            w.literal(" ret_type_id=")
            w.decimal(st)
            w.literal(" vlen=")
            w.decimal(UInt64(vlen))
            var m = body
            for _ in 0..<vlen {
                w.literal("\n\t'")
                writeName(r.u32(m), into: &w)
                w.literal("' type_id=")
                w.decimal(r.u32(m + 4))
                m += 8
            }
        case 14:
            w.literal(" type_id=")
            w.decimal(st)
            w.literal(", linkage=")
            writeLinkage(r.u32(body), into: &w)
        case 15:
            w.literal(" size=")
            w.decimal(st)
            w.literal(" vlen=")
            w.decimal(UInt64(vlen))
            var m = body
            for _ in 0..<vlen {
                let variable = r.u32(m)
                w.literal("\n\ttype_id=")
                w.decimal(variable)
                w.literal(" offset=")
                w.decimal(r.u32(m + 4))
                w.literal(" size=")
                w.decimal(r.u32(m + 8))
                if variable != 0, let (graph, vo) = try? locate(variable) {
                    w.literal(" (")
                    writeKindName((graph.reader.u32(vo + 4) >> 24) & 0x1F, into: &w)
                    w.literal(" '")
                    writeName(graph.reader.u32(vo), into: &w)
                    w.literal("')")
                } else if variable == 0 {
                    w.literal(" (UNKNOWN '(anon)')")
                }
                m += 12
            }
        case 16:
            w.literal(" size=")
            w.decimal(st)
        case 17:
            w.literal(" type_id=")
            w.decimal(st)
            w.literal(" component_idx=")
            w.signedDecimal(Int64(Int32(bitPattern: r.u32(body))))
        default:
            break
        }
        w.byte(0x0A)
    }
}
