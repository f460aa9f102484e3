#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The definitions a header writes at top level (or inline, when anonymous): structs, unions, enums,
/// typedefs, forward declarations.
extension CHeaderEmitter {
    /// GCC's ARM SIMD `__PolyN_t` base types have no C spelling: they are typedef'd to plain integers.
    mutating func writeMissingAlias(_ id: UInt32) {
        let name = typeName(id)
        guard name.suffix == 0, name.length >= 9, let pointer = name.pointer,
              memcmp(pointer, "__Poly", 6) == 0 else { return }
        let target: StaticString
        if name.equals("__Poly8_t") {
            target = "unsigned char"
        } else if name.equals("__Poly16_t") {
            target = "unsigned short"
        } else if name.equals("__Poly64_t") {
            target = "unsigned long long"
        } else if name.equals("__Poly128_t") {
            target = "unsigned __int128"
        } else {
            return
        }
        writer.literal("typedef ")
        writer.literal(target)
        writer.byte(0x20)
        write(name)
        writer.literal(";\n\n")
    }

    /// `struct name` / `union name`.
    mutating func writeStructForward(_ id: UInt32, _ r: UnsafeRawPointer) {
        writer.literal((load(r, 4) >> 24) & 0x1F == RawKind.struct ? "struct" : "union")
        if load(r, 0) != 0 { writer.byte(0x20) }
        write(typeName(id))
    }

    /// `struct name` / `union name` for a FWD.
    mutating func writeForward(_ id: UInt32, _ r: UnsafeRawPointer) {
        let name = typeName(id)
        writer.literal(load(r, 4) >> 31 != 0 ? "union " : "struct ")
        write(name)
    }

    /// `typedef <declaration of name>`.
    mutating func writeTypedef(_ id: UInt32, _ r: UnsafeRawPointer, level: Int) throws(BTFError) {
        let name = identifierName(id)
        let target = load(r, 8)
        if target == 0 && name.equals("__gnuc_va_list") {
            // Old GCC wrote this typedef to void; the compiler builtin is what it means.
            writer.literal("typedef __builtin_va_list __gnuc_va_list")
            return
        }
        writer.literal("typedef ")
        try writeDeclaration(target, name: name, level: level)
    }

    /// `enum name { A = 1, ... }` (just `enum name` without enumerators).
    mutating func writeEnumDefinition(_ id: UInt32, _ r: UnsafeRawPointer, level: Int) {
        let info = load(r, 4)
        let vlen = Int(info & 0xFFFF)
        let name = typeName(id)
        writer.literal("enum")
        if load(r, 0) != 0 { writer.byte(0x20) }
        write(name)
        if vlen == 0 { return }
        writer.literal(" {")
        let isSigned = info >> 31 != 0
        let is64 = (info >> 24) & 0x1F == RawKind.enum64
        let stride = is64 ? 12 : 8
        for i in 0..<vlen {
            let e = 12 + i * stride
            let valueName = rawName(load(r, e))
            let occurrences = identifierNames.increment(valueName)
            writer.byte(0x0A)
            indent(level + 1)
            write(valueName)
            if occurrences > 1 {
                writer.literal("___")
                writer.decimal(UInt64(occurrences))
            }
            writer.literal(" = ")
            if is64 {
                let value = UInt64(load(r, e + 8)) << 32 | UInt64(load(r, e + 4))
                if isSigned {
                    writer.signedDecimal(Int64(bitPattern: value))
                    writer.literal("LL,")
                } else {
                    writer.decimal(value)
                    writer.literal("ULL,")
                }
            } else {
                let value = load(r, e + 4)
                if isSigned {
                    writer.signedDecimal(Int64(Int32(bitPattern: value)))
                } else {
                    writer.decimal(value)
                }
                writer.byte(0x2C)
            }
        }
        writer.byte(0x0A)
        indent(level)
        writer.byte(0x7D)
    }

    /// `struct name { members }`, with explicit padding where the natural layout would differ and
    /// `__attribute__((packed))` when the members are not naturally aligned.
    mutating func writeStructDefinition(_ id: UInt32, _ r: UnsafeRawPointer, level: Int) throws(BTFError) {
        let info = load(r, 4)
        let vlen = Int(info & 0xFFFF)
        let isStruct = (info >> 24) & 0x1F == RawKind.struct
        let bitfields = info >> 31 != 0
        let size = load(r, 8)
        let structAlignment = try alignment(of: id)
        let packed = isStruct ? try isPacked(r) : false

        writer.literal(isStruct ? "struct" : "union")
        if load(r, 0) != 0 { writer.byte(0x20) }
        write(typeName(id))
        writer.literal(" {")

        var offset: Int32 = 0
        var previousWasBitfield = false
        for i in 0..<vlen {
            let m = 12 + i * 12
            let memberName = rawName(load(r, m))
            let memberType = load(r, m + 4)
            let packedOffset = load(r, m + 8)
            var bitSize = Int32(bitfields ? packedOffset >> 24 : 0)
            let bitOffset = Int32(truncatingIfNeeded: bitfields ? packedOffset & 0xFF_FFFF : packedOffset)
            let memberAlignment = packed ? 1 : try alignment(of: memberType)
            let inBitfield = previousWasBitfield && bitSize != 0
            writePadding(from: offset, to: bitOffset, nextAlignment: memberAlignment, inBitfield: inBitfield,
                         level: level + 1)
            writer.byte(0x0A)
            indent(level + 1)
            try writeDeclaration(memberType, name: memberName, level: level + 1)
            if bitSize != 0 {
                writer.literal(": ")
                writer.decimal(UInt64(bitSize))
                offset = bitOffset &+ bitSize
                previousWasBitfield = true
            } else {
                bitSize = Int32(truncatingIfNeeded: max(0, resolvedSize(memberType)))
                offset = bitOffset &+ bitSize &* 8
                previousWasBitfield = false
            }
            writer.byte(0x3B)
        }
        if isStruct {
            writePadding(from: offset, to: Int32(truncatingIfNeeded: size &* 8), nextAlignment: structAlignment,
                         inBitfield: false, level: level + 1)
        }
        if vlen != 0 || size != 0 {
            writer.byte(0x0A)
            indent(level)
        }
        writer.byte(0x7D)
        if packed { writer.literal(" __attribute__((packed))") }
    }
}
