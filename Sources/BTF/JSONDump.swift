extension TypeGraph {
    /// Writes what `bpftool -j btf dump file FILE` prints: `{"types":[{...},...]}` and a newline, one
    /// object per own type with bpftool's field names (`id`, `kind`, `name`, then `size`, `type_id`,
    /// `members`, `values`, `params`, `vars`, … per kind). Chunks are handed to `sink`.
    public func writeJSONDump(to sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        var w = DumpWriter(sink: sink)
        w.literal("{\"types\":[")
        withExtendedLifetime(self) {
            for index in 0..<offsets.count {
                if index > 0 { w.byte(0x2C) }
                jsonDumpType(id: firstOwnID + UInt32(index), into: &w)
            }
        }
        w.literal("]}\n")
        w.finish()
    }

    /// The bytes of ``writeJSONDump(to:)``.
    public func jsonDump() -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(offsets.count * 128)
        writeJSONDump { result.append(contentsOf: $0) }
        return result
    }

    func writeJSONName(_ nameOffset: UInt32, into w: inout DumpWriter) {
        if nameOffset == 0 {
            w.literal("\"(anon)\"")
        } else if let (pointer, length) = stringPointer(at: nameOffset) {
            w.jsonString(pointer, length)
        } else {
            w.literal("\"(invalid)\"")
        }
    }

    @inline(__always)
    func jsonField(_ name: StaticString, _ value: UInt32, into w: inout DumpWriter) {
        w.literal(name)
        w.decimal(value)
    }

    func jsonDumpType(id: UInt32, into w: inout DumpWriter) {
        let o = Int(offsets[Int(id - firstOwnID)])
        let r = reader
        let info = r.u32(o + 4)
        let kind = (info >> 24) & 0x1F
        let kindFlag = info >> 31 != 0
        let vlen = Int(info & 0xFFFF)
        let st = r.u32(o + 8)
        let body = o + 12
        jsonField("{\"id\":", id, into: &w)
        w.literal(",\"kind\":\"")
        writeKindName(kind, into: &w)
        w.literal("\",\"name\":")
        writeJSONName(r.u32(o), into: &w)
        switch kind {
        case 1:
            let v = r.u32(body)
            jsonField(",\"size\":", st, into: &w)
            jsonField(",\"bits_offset\":", (v >> 16) & 0xFF, into: &w)
            jsonField(",\"nr_bits\":", v & 0xFF, into: &w)
            w.literal(",\"encoding\":\"")
            writeIntEncoding((v >> 24) & 0x0F, into: &w)
            w.byte(0x22)
        case 2, 8, 9, 10, 11, 18:
            jsonField(",\"type_id\":", st, into: &w)
        case 3:
            jsonField(",\"type_id\":", r.u32(body), into: &w)
            jsonField(",\"index_type_id\":", r.u32(body + 4), into: &w)
            jsonField(",\"nr_elems\":", r.u32(body + 8), into: &w)
        case 4, 5:
            jsonField(",\"size\":", st, into: &w)
            jsonField(",\"vlen\":", UInt32(vlen), into: &w)
            w.literal(",\"members\":[")
            var m = body
            for i in 0..<vlen {
                if i > 0 { w.byte(0x2C) }
                w.literal("{\"name\":")
                writeJSONName(r.u32(m), into: &w)
                jsonField(",\"type_id\":", r.u32(m + 4), into: &w)
                let packed = r.u32(m + 8)
                if kindFlag {
                    jsonField(",\"bits_offset\":", packed & 0xFF_FFFF, into: &w)
                    if packed >> 24 != 0 { jsonField(",\"bitfield_size\":", packed >> 24, into: &w) }
                } else {
                    jsonField(",\"bits_offset\":", packed, into: &w)
                }
                w.byte(0x7D)
                m += 12
            }
            w.byte(0x5D)
        case 6, 19:
            w.literal(kindFlag ? ",\"encoding\":\"SIGNED\"" : ",\"encoding\":\"UNSIGNED\"")
            jsonField(",\"size\":", st, into: &w)
            jsonField(",\"vlen\":", UInt32(vlen), into: &w)
            w.literal(",\"values\":[")
            let stride = kind == 6 ? 8 : 12
            var m = body
            for i in 0..<vlen {
                if i > 0 { w.byte(0x2C) }
                w.literal("{\"name\":")
                writeJSONName(r.u32(m), into: &w)
                w.literal(",\"val\":")
                // bpftool reads a 32-bit value as `__s32` and widens it, so an unsigned enum value with
                // the top bit set prints sign-extended to 64 bits: mirrored on purpose.
                let value: UInt64 = kind == 6
                    ? UInt64(bitPattern: Int64(Int32(bitPattern: r.u32(m + 4))))
                    : UInt64(r.u32(m + 8)) << 32 | UInt64(r.u32(m + 4))
                if kindFlag { w.signedDecimal(Int64(bitPattern: value)) } else { w.decimal(value) }
                w.byte(0x7D)
                m += stride
            }
            w.byte(0x5D)
        case 7:
            w.literal(kindFlag ? ",\"fwd_kind\":\"union\"" : ",\"fwd_kind\":\"struct\"")
        case 12:
            jsonField(",\"type_id\":", st, into: &w)
            w.literal(",\"linkage\":\"")
            writeLinkage(UInt32(vlen), into: &w)
            w.byte(0x22)
        case 13:
            jsonField(",\"ret_type_id\":", st, into: &w)
            jsonField(",\"vlen\":", UInt32(vlen), into: &w)
            w.literal(",\"params\":[")
            var m = body
            for i in 0..<vlen {
                if i > 0 { w.byte(0x2C) }
                w.literal("{\"name\":")
                writeJSONName(r.u32(m), into: &w)
                jsonField(",\"type_id\":", r.u32(m + 4), into: &w)
                w.byte(0x7D)
                m += 8
            }
            w.byte(0x5D)
        case 14:
            jsonField(",\"type_id\":", st, into: &w)
            w.literal(",\"linkage\":\"")
            writeLinkage(r.u32(body), into: &w)
            w.byte(0x22)
        case 15:
            jsonField(",\"size\":", st, into: &w)
            jsonField(",\"vlen\":", UInt32(vlen), into: &w)
            w.literal(",\"vars\":[")
            var m = body
            for i in 0..<vlen {
                if i > 0 { w.byte(0x2C) }
                jsonField("{\"type_id\":", r.u32(m), into: &w)
                jsonField(",\"offset\":", r.u32(m + 4), into: &w)
                jsonField(",\"size\":", r.u32(m + 8), into: &w)
                w.byte(0x7D)
                m += 12
            }
            w.byte(0x5D)
        case 16:
            jsonField(",\"size\":", st, into: &w)
        case 17:
            jsonField(",\"type_id\":", st, into: &w)
            w.literal(",\"component_idx\":")
            w.signedDecimal(Int64(Int32(bitPattern: r.u32(body))))
        default:
            break
        }
        w.byte(0x7D)
    }
}
