/// The validating pass over a type section: record offsets, record lengths checked against kind and
/// `vlen`, and the largest type id and name offset referenced (checked against the graph afterwards, so the
/// hot loop has no per-reference error branch).
struct TypeScan {
    var offsets: [UInt32] = []
    var failure: BTFError?
    var maxTypeReference: UInt32 = 0
    var maxNameOffset: UInt32 = 0

    static func run(reader: RawReader, typeStart: Int, typeEnd: Int, firstID: UInt32) -> TypeScan {
        var scan = TypeScan()
        var failure: BTFError?
        var maxRef: UInt32 = 0
        var maxName: UInt32 = 0
        // Every record is at least 12 bytes: this bounds the table by the input size.
        let capacity = (typeEnd - typeStart) / 12
        scan.offsets = [UInt32](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            var o = typeStart
            var n = 0
            while o < typeEnd {
                let id = firstID &+ UInt32(truncatingIfNeeded: n)
                guard typeEnd - o >= 12 else {
                    failure = BTFError(.truncatedType,
                                       "type record header needs 12 bytes, \(typeEnd - o) left in the type section",
                                       typeID: id, offset: o)
                    break
                }
                let nameOffset = reader.u32(o)
                let info = reader.u32(o + 4)
                let st = reader.u32(o + 8)
                maxName = max(maxName, nameOffset)
                let kind = (info >> 24) & 0x1F
                let vlen = Int(info & 0xFFFF)
                let tail: Int
                switch kind {
                case 1, 14, 17: tail = 4  // INT, VAR, DECL_TAG
                case 2, 7, 8, 9, 10, 11, 12, 16, 18: tail = 0
                case 3: tail = 12  // ARRAY
                case 4, 5, 15, 19: tail = 12 * vlen  // STRUCT, UNION, DATASEC, ENUM64
                case 6, 13: tail = 8 * vlen  // ENUM, FUNC_PROTO
                default:
                    failure = BTFError(.unknownKind(UInt8(kind)),
                                       "unknown kind \(kind) (this decoder knows kinds 1-19)",
                                       typeID: id, offset: o)
                    tail = 0
                }
                if failure != nil { break }
                let body = o + 12
                guard typeEnd - body >= tail else {
                    failure = BTFError(.truncatedType,
                                       "\(BTFKind(rawValue: UInt8(kind))!) record with vlen \(vlen) needs \(12 + tail) bytes, \(typeEnd - o) left in the type section",
                                       typeID: id, offset: o)
                    break
                }
                switch kind {
                case 2, 8, 9, 10, 11, 12, 13, 14, 17, 18:
                    maxRef = max(maxRef, st)
                default: break
                }
                switch kind {
                case 3:
                    maxRef = max(maxRef, reader.u32(body), reader.u32(body + 4))
                case 4, 5:
                    var m = body
                    let end = body + tail
                    while m < end {
                        maxName = max(maxName, reader.u32(m))
                        maxRef = max(maxRef, reader.u32(m + 4))
                        m += 12
                    }
                case 13:
                    var m = body
                    let end = body + tail
                    while m < end {
                        maxName = max(maxName, reader.u32(m))
                        maxRef = max(maxRef, reader.u32(m + 4))
                        m += 8
                    }
                case 6:
                    var m = body
                    let end = body + tail
                    while m < end {
                        maxName = max(maxName, reader.u32(m))
                        m += 8
                    }
                case 19:
                    var m = body
                    let end = body + tail
                    while m < end {
                        maxName = max(maxName, reader.u32(m))
                        m += 12
                    }
                case 15:
                    var m = body
                    let end = body + tail
                    while m < end {
                        maxRef = max(maxRef, reader.u32(m))
                        m += 12
                    }
                default: break
                }
                buffer[n] = UInt32(truncatingIfNeeded: o)
                n += 1
                o = body + tail
            }
            initialized = n
        }
        scan.failure = failure
        scan.maxTypeReference = maxRef
        scan.maxNameOffset = maxName
        return scan
    }
}

extension TypeGraph {
    /// Slow path after the bulk check failed: the first type with a reference out of range, as an error.
    func findBadReference() -> BTFError {
        let limit = UInt32(count)
        for (index, offset) in offsets.enumerated() {
            let id = firstOwnID + UInt32(index)
            let o = Int(offset)
            let t = decode(id: id, at: o)
            func badName(_ name: UInt32, _ what: String) -> BTFError? {
                guard Int(name) >= stringLength else { return nil }
                return BTFError(.badStringOffset,
                                "\(what) offset \(name) is outside the string section (length \(stringLength))",
                                typeID: id, offset: o)
            }
            func badType(_ ref: UInt32, _ what: String) -> BTFError? {
                guard ref > limit else { return nil }
                return BTFError(.badTypeID, "\(what) refers to type id \(ref), but the last type id is \(limit)",
                                typeID: id, offset: o)
            }
            if let e = badName(t.nameOffset, "name") { return e }
            if let ref = t.referencedType, let e = badType(ref, "\(t.kind)") { return e }
            switch t.payload {
            case .array(let a):
                if let e = badType(a.elementType, "array element") ?? badType(a.indexType, "array index") {
                    return e
                }
            case .struct(_, let members), .union(_, let members):
                for (i, m) in members.enumerated() {
                    if let e = badName(m.nameOffset, "member \(i) name") ?? badType(m.type, "member \(i)") {
                        return e
                    }
                }
            case .functionProto(let ret, let params):
                if let e = badType(ret, "return type") { return e }
                for (i, p) in params.enumerated() {
                    if let e = badName(p.nameOffset, "parameter \(i) name") ?? badType(p.type, "parameter \(i)") {
                        return e
                    }
                }
            case .enum(_, _, let values), .enum64(_, _, let values):
                for (i, v) in values.enumerated() {
                    if let e = badName(v.nameOffset, "enumerator \(i) name") { return e }
                }
            case .dataSection(_, let variables):
                for (i, v) in variables.enumerated() {
                    if let e = badType(v.type, "variable \(i)") { return e }
                }
            default: break
            }
        }
        return BTFError(.badTypeID, "a reference is out of range")
    }
}
