import ByteParsing
import Testing
import TestSupport

@testable import BTF

/// `value`'s low `size` bytes in `order`.
private func encode(_ value: UInt64, size: Int, _ order: ByteOrder) -> [UInt8] {
    let little = (0..<size).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    return order == .little ? little : little.reversed()
}

/// A 128-bit number's 16 bytes in `order`.
private func encode128(high: UInt64, low: UInt64, _ order: ByteOrder) -> [UInt8] {
    let little = encode(low, size: 8, .little) + encode(high, size: 8, .little)
    return order == .little ? little : little.reversed()
}

/// `text`'s bytes padded with zeros to `size`.
private func padded(_ text: String, _ size: Int) -> [UInt8] {
    Array(text.utf8) + [UInt8](repeating: 0, count: size - text.utf8.count)
}

/// The `.BTF` section of an ELF64 object (a minimal reader: the BTF tests do not depend on the ELF target).
private func objectBTF(_ name: String) throws -> TypeGraph {
    let storage = try ByteStorage(contentsOf: TestPaths.fixtures + "/" + name)
    let raw = storage.view(order: .little)
    let order: ByteOrder = raw.u8(5) == 2 ? .big : .little
    let file = raw.with(order: order)
    let sectionHeaders = Int(try #require(file.u64(0x28)))
    let entrySize = Int(try #require(file.u16(0x3A)))
    let sectionCount = Int(try #require(file.u16(0x3C)))
    let namesIndex = Int(try #require(file.u16(0x3E)))
    func header(_ index: Int) throws -> (name: Int, offset: Int, size: Int) {
        let o = sectionHeaders + index * entrySize
        return (Int(try #require(file.u32(o))), Int(try #require(file.u64(o + 24))),
                Int(try #require(file.u64(o + 32))))
    }
    let names = try header(namesIndex)
    for index in 0..<sectionCount {
        let section = try header(index)
        if file.cString(at: names.offset + section.name) == ".BTF" {
            return try TypeGraph(data: try #require(file.slice(section.offset, section.size)))
        }
    }
    throw BTFError(.truncatedHeader, "\(name) has no .BTF section")
}

@Suite struct BTFValueTests {
    // MARK: - Scalars

    @Test(arguments: [ByteOrder.little, .big])
    func integersOfEverySize(order: ByteOrder) throws {
        var b = BTFBuilder(order: order)
        let s8 = b.int("signed char", size: 1, encoding: 1)
        let u16 = b.int("unsigned short", size: 2)
        let s32 = b.int("int", size: 4, encoding: 1)
        let u32 = b.int("unsigned int", size: 4)
        let s64 = b.int("long", size: 8, encoding: 1)
        let u64 = b.int("unsigned long", size: 8)
        let bool = b.int("_Bool", size: 1, encoding: 4)
        let char = b.int("char", size: 1, encoding: 1)
        let uchar = b.int("unsigned char", size: 1)
        let charEncoded = b.int("my_char", size: 1, encoding: 2)
        let s128 = b.int("__int128", size: 16, encoding: 1)
        let u128 = b.int("unsigned __int128", size: 16)
        let u24 = b.int("u24", size: 3)
        let g = try TypeGraph(data: b.view())

        #expect(try g.decode([0xFE], as: s8, byteOrder: order) == .int(-2))
        #expect(try g.decode(encode(0xBEEF, size: 2, order), as: u16, byteOrder: order) == .uint(0xBEEF))
        #expect(try g.decode(encode(UInt64(UInt32(bitPattern: -1234)), size: 4, order), as: s32,
                             byteOrder: order) == .int(-1234))
        #expect(try g.decode(encode(4_000_000_000, size: 4, order), as: u32, byteOrder: order) == .uint(4_000_000_000))
        #expect(try g.decode(encode(UInt64(bitPattern: .min), size: 8, order), as: s64, byteOrder: order)
                == .int(.min))
        #expect(try g.decode(encode(.max, size: 8, order), as: u64, byteOrder: order) == .uint(.max))
        #expect(try g.decode([1], as: bool, byteOrder: order) == .bool(true))
        #expect(try g.decode([0], as: bool, byteOrder: order) == .bool(false))
        #expect(try g.decode([7], as: bool, byteOrder: order) == .uint(7))
        #expect(try g.decode([0x41], as: char, byteOrder: order) == .char(0x41))
        #expect(try g.decode([0x41], as: uchar, byteOrder: order) == .uint(0x41))
        #expect(try g.decode([0x0A], as: charEncoded, byteOrder: order) == .char(0x0A))
        #expect(try g.decode(encode128(high: .max, low: .max, order), as: s128, byteOrder: order)
                == .int128(high: .max, low: .max))
        #expect(try g.decode(encode128(high: 1, low: 2, order), as: u128, byteOrder: order)
                == .int128(high: 1, low: 2))
        #expect(try g.decode(encode(0x0A0B0C, size: 3, order), as: u24, byteOrder: order) == .uint(0x0A0B0C))
        // The graph's order is the default; extra bytes are ignored.
        #expect(try g.decode(encode(7, size: 4, order) + [9, 9], as: u32) == .uint(7))

        #expect(BTFValue.int128(high: 0, low: 0x1F).text == "0x1f")
        #expect(BTFValue.int128(high: 1, low: 2).text == "0x10000000000000002")
        #expect(BTFValue.int128(high: 1, low: 2).json == "\"0x10000000000000002\"")
        #expect(BTFValue.char(0x41).text == "'A'")
        #expect(BTFValue.char(0x0A).text == "'\\n'")
        #expect(BTFValue.char(0x01).text == "'\\x01'")
        #expect(BTFValue.char(0x41).json == "\"A\"")
        #expect(BTFValue.char(0).json == "\"\\u0000\"")
    }

    @Test(arguments: [ByteOrder.little, .big])
    func floatsPointersAndRawBytes(order: ByteOrder) throws {
        var b = BTFBuilder(order: order)
        let half = b.type("_Float16", kind: 16, sizeOrType: 2)
        let single = b.type("float", kind: 16, sizeOrType: 4)
        let double = b.type("double", kind: 16, sizeOrType: 8)
        let long = b.type("long double", kind: 16, sizeOrType: 16)
        let int = b.int("int", size: 4, encoding: 1)
        let pointer = b.pointer(int)
        let g = try TypeGraph(data: b.view())

        #expect(try g.decode(encode(0x3E00, size: 2, order), as: half, byteOrder: order) == .float32(1.5))
        #expect(try g.decode(encode(0x0001, size: 2, order), as: half, byteOrder: order)
                == .float32(Float(sign: .plus, exponent: -24, significand: 1)))
        #expect(try g.decode(encode(0xFC00, size: 2, order), as: half, byteOrder: order) == .float32(-.infinity))
        #expect(try g.decode(encode(UInt64(Float(0.1).bitPattern), size: 4, order), as: single, byteOrder: order)
                == .float32(0.1))
        #expect(try g.decode(encode((-2.25).bitPattern, size: 8, order), as: double, byteOrder: order)
                == .float(-2.25))
        let raw = (0..<16).map { UInt8($0) }
        #expect(try g.decode(raw, as: long, byteOrder: order) == .bytes(raw))
        #expect(try g.decode(encode(0xFFFF_8880_1234_0000, size: 8, order), as: pointer, byteOrder: order)
                == .pointer(0xFFFF_8880_1234_0000))

        #expect(BTFValue.float32(0.1).text == "0.1")
        #expect(BTFValue.float(1e-5).json == "1e-05")
        #expect(BTFValue.float(.infinity).json == "\"inf\"")
        #expect(BTFValue.float(.nan).json == "\"nan\"")
        #expect(BTFValue.pointer(0xFFFF).text == "0xffff")
        #expect(BTFValue.pointer(0xFFFF).json == "65535")
        #expect(BTFValue.bytes([0xDE, 0xAD, 0x01]).text == "<dead01>")
        #expect(BTFValue.bytes([0xDE, 0xAD, 0x01]).json == "\"dead01\"")
    }

    // MARK: - Char arrays

    @Test func charArraysAreTextOnlyWhenLossless() throws {
        var b = BTFBuilder()
        let char = b.int("char", size: 1, encoding: 1)
        let index = b.int("__ARRAY_SIZE_TYPE__", size: 4)
        let comm = b.array(char, index: index, count: 16)
        let constChar = b.const(b.typedef("my_char", char))
        let wrapped = b.array(constChar, index: index, count: 4)
        let uchar = b.int("unsigned char", size: 1)
        let bytes = b.array(uchar, index: index, count: 4)
        let empty = b.array(char, index: index, count: 0)
        let g = try TypeGraph(data: b.view())

        #expect(try g.decode(padded("bash", 16), as: comm) == .string("bash"))
        #expect(try g.decode(padded("", 16), as: comm) == .string(""))
        #expect(try g.decode(Array("0123456789abcdef".utf8), as: comm) == .string("0123456789abcdef"))
        #expect(try g.decode(padded("héllo ✓", 16), as: comm) == .string("héllo ✓"))
        // Garbage after the NUL: numbers, so no byte is hidden.
        #expect(try g.decode(Array("ab\0z".utf8), as: wrapped)
                == .array([.int(0x61), .int(0x62), .int(0), .int(0x7A)]))
        // Control characters and invalid UTF-8 are not text.
        #expect(try g.decode([0x61, 0x0A, 0, 0], as: wrapped) == .array([.int(0x61), .int(0x0A), .int(0), .int(0)]))
        #expect(try g.decode([0xFF, 0x61, 0, 0], as: wrapped) == .array([.int(-1), .int(0x61), .int(0), .int(0)]))
        #expect(try g.decode([0xC2, 0x85, 0, 0], as: wrapped) == .array([.int(-62), .int(-123), .int(0), .int(0)]))
        // unsigned char arrays are bytes, not text.
        #expect(try g.decode(Array("abc\0".utf8), as: bytes) == .array([.uint(0x61), .uint(0x62), .uint(0x63), .uint(0)]))
        #expect(try g.decode([], as: empty) == .array([]))

        #expect(BTFValue.string("a\"b\\c\n").text == "\"a\\\"b\\\\c\\n\"")
        #expect(BTFValue.string("a\"b\\c\n\u{1}").json == "\"a\\\"b\\\\c\\n\\u0001\"")
        #expect(BTFValue.string("é✓").json == "\"é✓\"")
    }

    // MARK: - Enums

    @Test(arguments: [ByteOrder.little, .big])
    func enumerators(order: ByteOrder) throws {
        var b = BTFBuilder(order: order)
        let color = b.enumeration("color", values: [("RED", 0), ("GREEN", 1), ("ALL", 0xFFFF_FFFF)])
        let delta = b.enumeration("delta", signed: true, values: [("MINUS", -5), ("PLUS", 7)])
        let small = b.enumeration("small", size: 1, signed: true, values: [("NEG", -1)])
        let big = b.enum64("big", values: [("HUGE", 0xFFFF_FFFF_FFFF_FFF0), ("ONE", 1)])
        let g = try TypeGraph(data: b.view())

        #expect(try g.decode(encode(1, size: 4, order), as: color, byteOrder: order) == .enumerator(name: "GREEN", value: 1))
        #expect(try g.decode(encode(0xFFFF_FFFF, size: 4, order), as: color, byteOrder: order)
                == .enumerator(name: "ALL", value: 0xFFFF_FFFF))
        #expect(try g.decode(encode(42, size: 4, order), as: color, byteOrder: order) == .uint(42))
        #expect(try g.decode(encode(UInt64(UInt32(bitPattern: -5)), size: 4, order), as: delta, byteOrder: order)
                == .enumerator(name: "MINUS", value: -5))
        #expect(try g.decode(encode(UInt64(UInt32(bitPattern: -6)), size: 4, order), as: delta, byteOrder: order)
                == .int(-6))
        #expect(try g.decode([0xFF], as: small, byteOrder: order) == .enumerator(name: "NEG", value: -1))
        #expect(try g.decode(encode(0xFFFF_FFFF_FFFF_FFF0, size: 8, order), as: big, byteOrder: order)
                == .enumerator(name: "HUGE", value: Int64(bitPattern: 0xFFFF_FFFF_FFFF_FFF0)))
        #expect(try g.decode(encode(2, size: 8, order), as: big, byteOrder: order) == .uint(2))

        #expect(BTFValue.enumerator(name: "GREEN", value: 1).text == "GREEN")
        #expect(BTFValue.enumerator(name: "GREEN", value: 1).json == "\"GREEN\"")
    }

    // MARK: - Structures

    /// `struct event { u32 pid; int ppid; char comm[8]; struct { short x; union { int i; u32 u; }; }; }`
    /// through typedefs, const, volatile and a type tag.
    struct Event {
        var builder = BTFBuilder()
        var event: UInt32 = 0
        var eventTypedef: UInt32 = 0

        init(order: ByteOrder) {
            var b = BTFBuilder(order: order)
            let uint = b.int("unsigned int", size: 4)
            let u32 = b.typedef("u32", b.typedef("__u32", uint))
            let int = b.int("int", size: 4, encoding: 1)
            let tagged = b.type("user", kind: 18, sizeOrType: b.type(nil, kind: 9, sizeOrType: int))
            let char = b.int("char", size: 1, encoding: 1)
            let comm = b.array(b.const(char), index: uint, count: 8)
            let short = b.int("short", size: 2, encoding: 1)
            let inner = b.record(nil, union: true, size: 4, [("i", int, 0), ("u", u32, 0)])
            let anonymous = b.record(nil, size: 8, [("x", short, 0), (nil, inner, 32)])
            event = b.record("event", size: 24, [("pid", u32, 0), ("ppid", tagged, 32), ("comm", comm, 64),
                                                 (nil, anonymous, 128)])
            eventTypedef = b.typedef("event_t", event)
            builder = b
        }

        func bytes(_ order: ByteOrder) -> [UInt8] {
            encode(1234, size: 4, order) + encode(1, size: 4, order) + padded("true", 8)
                + encode(UInt64(UInt16(bitPattern: -3)), size: 2, order) + [0, 0] + encode(0xFFFF_FFFF, size: 4, order)
        }
    }

    @Test(arguments: [ByteOrder.little, .big])
    func nestedStructures(order: ByteOrder) throws {
        let e = Event(order: order)
        let g = try TypeGraph(data: e.builder.view())
        let value = try g.decode(e.bytes(order), as: e.eventTypedef, byteOrder: order)
        let expected = BTFValue.structure([
            BTFField(name: "pid", value: .uint(1234)),
            BTFField(name: "ppid", value: .int(1)),
            BTFField(name: "comm", value: .string("true")),
            BTFField(name: "", value: .structure([
                BTFField(name: "x", value: .int(-3)),
                BTFField(name: "", value: .union([BTFField(name: "i", value: .int(-1)),
                                                  BTFField(name: "u", value: .uint(0xFFFF_FFFF))])),
            ])),
        ])
        #expect(value == expected)
        #expect(value[field: "comm"] == .string("true"))
        #expect(value[field: "u"] == .uint(0xFFFF_FFFF))
        #expect(value[field: "nope"] == nil)
        #expect(value.text == "{pid=1234, ppid=1, comm=\"true\", x=-3, i=-1, u=4294967295}")
        #expect(value.fieldsLine == "pid=1234 ppid=1 comm=\"true\" x=-3 i=-1 u=4294967295")
        #expect(value.json == "{\"pid\":1234,\"ppid\":1,\"comm\":\"true\",\"x\":-3,\"i\":-1,\"u\":4294967295}")
        #expect(value.description == value.text)

        let nested = BTFValue.structure([BTFField(name: "inner", value: value),
                                         BTFField(name: "list", value: .array([.uint(1), .uint(2)]))])
        #expect(nested.fieldsLine
                == "inner={pid=1234, ppid=1, comm=\"true\", x=-3, i=-1, u=4294967295} list=[1, 2]")
        #expect(nested.json.hasPrefix("{\"inner\":{\"pid\":1234,"))
        #expect(nested.json.hasSuffix("},\"list\":[1,2]}"))
        #expect(BTFValue.uint(5).fieldsLine == "5")
    }

    @Test(arguments: [ByteOrder.little, .big])
    func arraysOfStructuresAndDataSections(order: ByteOrder) throws {
        var b = BTFBuilder(order: order)
        let u32 = b.int("unsigned int", size: 4)
        let u16 = b.int("unsigned short", size: 2)
        let pair = b.record("pair", size: 8, [("a", u32, 0), ("b", u16, 32)])
        let pairs = b.array(pair, index: u32, count: 2)
        let counter = b.type("counter", kind: 14, sizeOrType: u32, tail: [1])
        let table = b.type("table", kind: 14, sizeOrType: pairs, tail: [1])
        let proto = b.functionProto(returning: u32, params: [])
        let ksym = b.type("bpf_ksym", kind: 12, vlen: 2, sizeOrType: proto)
        let section = b.dataSection(".data", size: 24, variables: [(counter, 0, 4), (ksym, 0, 0), (table, 8, 16)])
        let g = try TypeGraph(data: b.view())

        let bytes = encode(7, size: 4, order) + [0xAA, 0xAA, 0xAA, 0xAA]
            + encode(1, size: 4, order) + encode(2, size: 2, order) + [0, 0]
            + encode(3, size: 4, order) + encode(4, size: 2, order) + [0, 0]
        let value = try g.decode(bytes, as: section, byteOrder: order)
        #expect(value == .structure([
            BTFField(name: "counter", value: .uint(7)),
            BTFField(name: "table", value: .array([
                .structure([BTFField(name: "a", value: .uint(1)), BTFField(name: "b", value: .uint(2))]),
                .structure([BTFField(name: "a", value: .uint(3)), BTFField(name: "b", value: .uint(4))]),
            ])),
        ]))
        #expect(value.fieldsLine == "counter=7 table=[{a=1, b=2}, {a=3, b=4}]")
        #expect(value.json == "{\"counter\":7,\"table\":[{\"a\":1,\"b\":2},{\"a\":3,\"b\":4}]}")
        // A variable decodes as its type.
        #expect(try g.decode(encode(9, size: 4, order), as: counter, byteOrder: order) == .uint(9))
    }

    // MARK: - Bitfields

    /// `struct bits { unsigned a:3; unsigned b:5; int c:6; unsigned d:20; enum mode m:2; }` in 8 bytes,
    /// with kind_flag bitfield sizes, and the same layout the old way (no kind_flag: the member types are
    /// INTs of the bitfield's width).
    @Test(arguments: [ByteOrder.little, .big], [true, false])
    func bitfields(order: ByteOrder, kindFlag: Bool) throws {
        var b = BTFBuilder(order: order)
        let uint = b.int("unsigned int", size: 4)
        let int = b.int("int", size: 4, encoding: 1)
        let mode = b.enumeration("mode", values: [("OFF", 0), ("ON", 1), ("AUTO", 2)])
        let members: [(String?, UInt32, UInt32, UInt32)]
        if kindFlag {
            members = [("a", uint, 0, 3), ("b", uint, 3, 5), ("c", int, 8, 6), ("d", uint, 14, 20),
                       (nil, uint, 34, 2), ("m", mode, 36, 2)]
        } else {
            let u3 = b.int("unsigned int", size: 4, bits: 3)
            let u5 = b.int("unsigned int", size: 4, bits: 5)
            let s6 = b.int("int", size: 4, encoding: 1, bits: 6)
            let u20 = b.int("unsigned int", size: 4, bits: 20)
            let u2 = b.int("unsigned int", size: 4, bits: 2)
            let u2b = b.int("unsigned int", size: 4, bits: 2)
            members = [("a", u3, 0, 0), ("b", u5, 3, 0), ("c", s6, 8, 0), ("d", u20, 14, 0), (nil, u2, 34, 0),
                       ("m", u2b, 36, 0)]
        }
        let bits = b.composite("bits", size: 8, members: members, kindFlag: kindFlag)
        let g = try TypeGraph(data: b.view())

        let (a, bb, c, d, pad, m): (UInt64, UInt64, Int64, UInt64, UInt64, UInt64) = (5, 17, -3, 0xABCDE, 3, 2)
        let cBits = UInt64(bitPattern: c) & 0x3F
        // C layouts: little-endian fills a storage unit from its least significant bit, big-endian from
        // its most significant bit.
        let bytes: [UInt8]
        if order == .little {
            bytes = encode(a | bb << 3 | cBits << 8 | d << 14 | pad << 34 | m << 36, size: 8, .little)
        } else {
            bytes = encode(a << 61 | bb << 56 | cBits << 50 | d << 30 | pad << 28 | m << 26, size: 8, .big)
        }
        let value = try g.decode(bytes, as: bits, byteOrder: order)
        #expect(value == .structure([
            BTFField(name: "a", value: .uint(a)), BTFField(name: "b", value: .uint(bb)),
            BTFField(name: "c", value: .int(c)), BTFField(name: "d", value: .uint(d)),
            BTFField(name: "m", value: kindFlag ? .enumerator(name: "AUTO", value: 2) : .uint(m)),
        ]))
        // Reading with the other order's layout gives other numbers: the order matters.
        #expect(try g.decode(bytes, as: bits, byteOrder: order == .little ? .big : .little) != value)
    }

    @Test(arguments: [ByteOrder.little, .big])
    func wideBitfields(order: ByteOrder) throws {
        var b = BTFBuilder(order: order)
        let u64 = b.int("unsigned long long", size: 8)
        let s128 = b.int("__int128", size: 16, encoding: 1)
        let wide = b.composite("wide", size: 24, members: [("lo", u64, 4, 60), ("big", s128, 64, 100)],
                               kindFlag: true)
        let g = try TypeGraph(data: b.view())
        // lo = all ones (60 bits), big = -2 in 100 bits; the first 4 bits and the rest are zero.
        let lo: UInt64 = (1 << 60) - 1
        var bytes: [UInt8]
        if order == .little {
            bytes = encode(lo << 4, size: 8, .little)
            // -2 in 100 bits: bit 0 clear, bits 1...99 set.
            bytes += encode(~UInt64(1), size: 8, .little) + encode((1 << 36) - 1, size: 8, .little)
        } else {
            bytes = encode(lo, size: 8, .big)
            // 100 bits from the most significant end of 16 bytes: value << 28.
            let high = UInt64.max
            let low = ~UInt64(1) << 28
            bytes += encode(high, size: 8, .big) + encode(low, size: 8, .big)
        }
        let value = try g.decode(bytes, as: wide, byteOrder: order)
        #expect(value[field: "lo"] == .uint(lo))
        #expect(value[field: "big"] == .int128(high: .max, low: ~UInt64(1)))
    }

    // MARK: - Fixtures

    @Test func fixtureMapKeysAndValues() throws {
        let execcount = try objectBTF("execcount.o")
        let key = try #require(execcount.typeID(named: "struct comm_key"))
        let decoded = try execcount.decode(padded("bash", 64), as: key)
        #expect(decoded == .structure([BTFField(name: "comm", value: .string("bash"))]))
        #expect(decoded.fieldsLine == "comm=\"bash\"")
        #expect(decoded.json == "{\"comm\":\"bash\"}")
        let u64 = try #require(execcount.typeID(named: "u64"))
        #expect(try execcount.decode(encode(3, size: 8, .little), as: u64) == .uint(3))

        let events = try objectBTF("events.o")
        let config = try #require(events.typeID(named: "config"))
        #expect(try events.kind(of: config) == .struct)
        #expect(try events.decode(encode(1, size: 4, .little) + encode(0, size: 4, .little), as: config).fieldsLine
                == "mute_ringbuf=1 mute_perf=0")
        // `struct event` is in the object's BTF (a function's prototype names it: clang emits only types
        // that maps, functions and globals name), so records decode by name (`--event-type`).
        let event = try #require(events.typeID(named: "struct event"))
        #expect(try events.resolvedSize(of: event) == 56)
    }

    @Test(arguments: ["core.o", "core.bpfeb.o"])
    func fixtureBitfieldsInBothOrders(object: String) throws {
        let g = try objectBTF(object)
        let order = g.byteOrder
        let task = try #require(g.typeID(named: "struct task_struct"))
        // sched_reset_on_fork = 1, sched_contributes_to_load = 0, in_execve = 1, in_iowait = 0 at bit 128.
        let flagsByte: UInt8 = order == .little ? 0b0000_0101 : 0b1010_0000
        var bytes = encode(0x402, size: 4, order) + encode(0x40_0000, size: 4, order)
            + encode(0xFFFF_8880_0000_1000, size: 8, order) + [flagsByte, 0, 0, 0]
            + encode(1234, size: 4, order) + encode(1230, size: 4, order) + [0, 0, 0, 0]
            + encode(0xFFFF_8880_0000_2000, size: 8, order)
        bytes += padded("true", 16)
        #expect(bytes.count == 56)
        let value = try g.decode(bytes, as: task)
        #expect(value.fieldsLine == "__state=1026 flags=4194304 mm=0xffff888000001000 sched_reset_on_fork=1 "
                + "sched_contributes_to_load=0 in_execve=1 in_iowait=0 pid=1234 tgid=1230 "
                + "real_parent=0xffff888000002000 comm=\"true\"")

        let info = try #require(g.typeID(named: "task_info"))
        let infoBytes = (0..<9).flatMap { encode(UInt64($0), size: $0 == 4 ? 8 : 4, order) } + padded("bash", 16)
        let decoded = try g.decode(infoBytes, as: info)
        #expect(decoded[field: "comm"] == .string("bash"))
        #expect(decoded[field: "pid"] == .uint(0))
        #expect(decoded[field: "arg_start"] == .uint(4))
    }

    @Test func fixtureConstVolatileGlobal() throws {
        let g = try objectBTF("globals.o")
        let knob = try #require(g.ids(named: "knob_name").first)
        #expect(try g.kind(of: knob) == .variable)
        #expect(try g.decode(padded("swift", 8), as: knob) == .string("swift"))
        let section = try #require(g.typeID(named: ".rodata"))
        #expect(try g.kind(of: section) == .dataSection)
    }

    // MARK: - Type lookup

    @Test func typeLookup() throws {
        var b = BTFBuilder()
        let forward = b.forward("event")
        let int = b.int("int", size: 4, encoding: 1)
        let function = b.type("event", kind: 12, sizeOrType: b.functionProto(returning: int, params: []))
        let event = b.record("event", size: 4, [("pid", int, 0)])
        let typedef = b.typedef("event_t", event)
        let sameName = b.typedef("event", event)
        let state = b.enum64("state", values: [("A", 1)])
        let u = b.record("u", union: true, size: 4, [("x", int, 0)])
        let g = try TypeGraph(data: b.view())

        #expect(g.typeID(named: "struct event") == event)
        #expect(g.typeID(named: "  struct   event ") == event)
        #expect(g.typeID(named: "event") == event)
        #expect(g.typeID(named: "event_t") == typedef)
        #expect(g.typeID(named: "enum state") == state)
        #expect(g.typeID(named: "state") == state)
        #expect(g.typeID(named: "union u") == u)
        #expect(g.typeID(named: "struct u") == nil)
        #expect(g.typeID(named: "union event") == nil)
        #expect(g.typeID(named: "int") == int)
        #expect(g.typeID(named: "\(typedef)") == typedef)
        #expect(g.typeID(named: "999") == nil)
        #expect(g.typeID(named: "missing") == nil)
        #expect(g.typeID(named: "") == nil)
        _ = (forward, function, sameName)
    }

    // MARK: - Errors and limits

    @Test func errors() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let record = b.record("r", size: 8, [("a", int, 0), ("b", int, 32)])
        let forward = b.forward("later")
        let proto = b.functionProto(returning: int, params: [])
        let function = b.type("f", kind: 12, sizeOrType: proto)
        let looping = b.typedef("loop", 0)
        let misaligned = b.record("m", size: 8, [("inner", record, 4)])
        let overhanging = b.record("o", size: 8, [("inner", record, 64)])
        let double = b.type("double", kind: 16, sizeOrType: 8)
        let floatBitfield = b.composite("fb", size: 8, members: [("f", double, 0, 3)], kindFlag: true)
        let tooWide = b.int("odd", size: 1, bits: 9)
        var bytes = b.build()
        // Make the typedef refer to itself (the builder cannot name an id before it exists).
        let g0 = try TypeGraph(data: ByteView(bytes))
        let loopOffset = try g0.type(looping).offset
        bytes.replaceSubrange(loopOffset + 8..<loopOffset + 12, with: encode(UInt64(looping), size: 4, .little))
        let g = try TypeGraph(data: ByteView(bytes))

        func code(_ body: () throws(BTFValueError) -> BTFValue) -> BTFValueError.Code? {
            do { _ = try body(); return nil } catch { return error.code }
        }
        #expect(code { () throws(BTFValueError) in try g.decode([1, 2, 3], as: int) } == .valueTooShort)
        #expect(code { () throws(BTFValueError) in try g.decode([UInt8](repeating: 0, count: 7), as: record) }
                == .valueTooShort)
        #expect(code { () throws(BTFValueError) in try g.decode([0], as: 0) } == .unsizedType)
        #expect(code { () throws(BTFValueError) in try g.decode([0], as: forward) } == .unsizedType)
        #expect(code { () throws(BTFValueError) in try g.decode([0], as: function) } == .unsizedType)
        #expect(code { () throws(BTFValueError) in try g.decode([0], as: proto) } == .unsizedType)
        #expect(code { () throws(BTFValueError) in try g.decode([0, 0, 0, 0], as: looping) }
                == .graph(.resolutionTooDeep))
        #expect(code { () throws(BTFValueError) in try g.decode([0], as: 9999) } == .graph(.badTypeID))
        #expect(code { () throws(BTFValueError) in try g.decode([UInt8](repeating: 0, count: 16), as: misaligned) }
                == .badLayout)
        #expect(code { () throws(BTFValueError) in try g.decode([UInt8](repeating: 0, count: 8), as: overhanging) }
                == .valueTooShort)
        #expect(code { () throws(BTFValueError) in try g.decode([UInt8](repeating: 0, count: 8), as: floatBitfield) }
                == .badLayout)
        #expect(code { () throws(BTFValueError) in try g.decode([0, 0], as: tooWide) } == .badLayout)

        let error = try #require(throws: BTFValueError.self) { try g.decode([1, 2, 3], as: record) }
        #expect(error.description.hasPrefix("BTF value: 3 bytes are too short for struct r (type \(record)) of 8 bytes"))
        #expect(error.typeID == record)
    }

    @Test func misalignedStructureMember() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let inner = b.record("inner", size: 4, [("a", int, 0)])
        let outer = b.record("outer", size: 8, [("inner", inner, 3)])
        let g = try TypeGraph(data: b.view())
        #expect(throws: BTFValueError.self) { try g.decode([UInt8](repeating: 0, count: 8), as: outer) }
        do {
            _ = try g.decode([UInt8](repeating: 0, count: 8), as: outer)
        } catch {
            #expect(error.code == .badLayout)
        }
    }

    @Test func selfContainingStructureIsBounded() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        // struct s { int a; struct s again; } of 4 bytes: `again` is type id int + 1, itself.
        let s = b.record("s", size: 4, [("a", int, 0), ("again", int + 1, 0)])
        let g = try TypeGraph(data: b.view())
        do {
            _ = try g.decode([0, 0, 0, 0], as: s)
            Issue.record("a structure containing itself decoded")
        } catch {
            #expect(error.code == .nestingTooDeep)
        }
        // A very large depth limit is capped, so the recursion cannot exhaust the stack.
        do {
            _ = try g.decode([0, 0, 0, 0], as: s, limits: BTFValueLimits(maximumDepth: .max))
            Issue.record("a structure containing itself decoded")
        } catch {
            #expect(error.code == .nestingTooDeep)
            #expect(error.message.contains("more than \(BTFValueLimits.depthCeiling) levels"))
        }
    }

    /// `struct event` of events.bpf.c, as `--event-type event` prints ring buffer records.
    @Test(arguments: [ByteOrder.little, .big])
    func ringBufferRecordLine(order: ByteOrder) throws {
        var b = BTFBuilder(order: order)
        let uint = b.int("unsigned int", size: 4)
        let u32 = b.typedef("u32", b.typedef("__u32", uint))
        let char = b.int("char", size: 1, encoding: 1)
        let index = b.int("__ARRAY_SIZE_TYPE__", size: 4)
        let comm = b.array(char, index: index, count: 16)
        let message = b.array(char, index: index, count: 32)
        _ = b.record("event", size: 56, [("pid", u32, 0), ("uid", u32, 32), ("comm", comm, 64),
                                         ("message", message, 192)])
        let g = try TypeGraph(data: b.view())
        let event = try #require(g.typeID(named: "event"))
        #expect(g.typeID(named: "struct event") == event)
        let record = encode(1234, size: 4, order) + encode(0, size: 4, order) + padded("true", 16)
            + padded("execve seen", 32)
        let value = try g.decode(record, as: event, byteOrder: order)
        #expect(value.fieldsLine == "pid=1234 uid=0 comm=\"true\" message=\"execve seen\"")
        #expect(value.json == "{\"pid\":1234,\"uid\":0,\"comm\":\"true\",\"message\":\"execve seen\"}")
        // Too short a record is an error, not a partial value.
        #expect(throws: BTFValueError.self) { try g.decode(Array(record.prefix(55)), as: event, byteOrder: order) }
    }

    @Test func hugeArraysAreCut() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let empty = b.record("empty", size: 0, [])
        let many = b.array(empty, index: int, count: 4_000_000_000)
        let holder = b.record("holder", size: 4, [("x", int, 0), ("many", many, 32)])
        let ints = b.array(int, index: int, count: 10)
        let char = b.int("char", size: 1, encoding: 1)
        let chars = b.array(char, index: int, count: 10)
        let g = try TypeGraph(data: b.view())

        let value = try g.decode([1, 0, 0, 0], as: holder)
        guard case .array(let elements) = try #require(value[field: "many"]) else {
            Issue.record("not an array")
            return
        }
        #expect(elements.count == 4097)
        #expect(elements.last == .elided(count: 4_000_000_000 - 4096))

        let limits = BTFValueLimits(maximumArrayElements: 3)
        let cut = try g.decode((0..<40).map { UInt8($0 % 4 == 0 ? $0 / 4 : 0) }, as: ints, limits: limits)
        #expect(cut == .array([.int(0), .int(1), .int(2), .elided(count: 7)]))
        #expect(cut.text == "[0, 1, 2, ... (7 more)]")
        #expect(cut.json == "[0,1,2,\"... (7 more)\"]")
        // Text is not cut; numbers from a char array are.
        #expect(try g.decode(padded("abcdefgh", 10), as: chars, limits: limits) == .string("abcdefgh"))
        #expect(try g.decode([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], as: chars, limits: limits)
                == .array([.int(1), .int(2), .int(3), .elided(count: 7)]))
    }

    @Test func repeatedMembersAreBounded() throws {
        // Each level repeats 200 members at offset 0: 200^3 values from 4 bytes.
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        var level = int
        for depth in 0..<3 {
            let members: [(String?, UInt32, UInt32)] = (0..<200).map { index in ("m\(index)", level, 0) }
            level = b.record("level\(depth)", size: 4, members)
        }
        let g = try TypeGraph(data: b.view())
        do {
            _ = try g.decode([0, 0, 0, 0], as: level, limits: BTFValueLimits(maximumValues: 100_000))
            Issue.record("8 million values decoded")
        } catch {
            #expect(error.code == .tooManyValues)
        }
        // Within the limits, the same shape decodes.
        let small = try g.decode([0, 0, 0, 0], as: level - 1)
        guard case .structure(let fields) = small else {
            Issue.record("not a structure")
            return
        }
        #expect(fields.count == 200)
    }

    @Test func anonymousPaddingAndNamelessEnumerators() throws {
        var b = BTFBuilder()
        let uint = b.int("unsigned int", size: 4)
        let record = b.composite("p", size: 4, members: [("a", uint, 0, 4), (nil, uint, 4, 4), ("b", uint, 8, 8)],
                                 kindFlag: true)
        let g = try TypeGraph(data: b.view())
        let value = try g.decode([0xF3, 0x42, 0, 0], as: record, byteOrder: .little)
        #expect(value == .structure([BTFField(name: "a", value: .uint(3)), BTFField(name: "b", value: .uint(0x42))]))
        #expect(BTFValue.enumerator(name: "", value: -4).text == "-4")
        #expect(BTFValue.enumerator(name: "", value: -4).json == "-4")
    }
}

/// `BTFValue.sum(of:)`: what a per-CPU map's values add up to.
@Suite struct BTFValueSumTests {
    @Test func countersAddMemberByMember() {
        let cpu0 = BTFValue.structure([BTFField(name: "calls", value: .uint(2)), BTFField(name: "delta", value: .int(-3)),
                                       BTFField(name: "slots", value: .array([.uint(1), .uint(0)]))])
        let cpu1 = BTFValue.structure([BTFField(name: "calls", value: .uint(5)), BTFField(name: "delta", value: .int(1)),
                                       BTFField(name: "slots", value: .array([.uint(4), .uint(7)]))])
        #expect(BTFValue.sum(of: [cpu0, cpu1]) == .structure([
            BTFField(name: "calls", value: .uint(7)), BTFField(name: "delta", value: .int(-2)),
            BTFField(name: "slots", value: .array([.uint(5), .uint(7)])),
        ]))
        #expect(BTFValue.sum(of: [.float(0.5), .float(1.25)]) == .float(1.75))
        #expect(BTFValue.sum(of: [.uint(3)]) == .uint(3))
    }

    @Test func countersWrapAndWideIntegersCarry() {
        #expect(BTFValue.sum(of: [.uint(.max), .uint(2)]) == .uint(1))
        #expect(BTFValue.sum(of: [.int128(high: 0, low: .max), .int128(high: 1, low: 1)]) == .int128(high: 2, low: 0))
    }

    @Test func nonQuantitiesAndMismatchedShapesHaveNoSum() {
        #expect(BTFValue.sum(of: []) == nil)
        #expect(BTFValue.sum(of: [.string("a"), .string("b")]) == nil)
        #expect(BTFValue.sum(of: [.string("a")]) == nil)
        #expect(BTFValue.sum(of: [.pointer(1), .pointer(2)]) == nil)
        #expect(BTFValue.sum(of: [.enumerator(name: "A", value: 1), .enumerator(name: "A", value: 1)]) == nil)
        #expect(BTFValue.sum(of: [.union([BTFField(name: "x", value: .uint(1))]), .union([BTFField(name: "x", value: .uint(1))])]) == nil)
        #expect(BTFValue.sum(of: [.uint(1), .int(1)]) == nil)
        #expect(BTFValue.sum(of: [.array([.uint(1)]), .array([.uint(1), .uint(2)])]) == nil)
        let withName = BTFValue.structure([BTFField(name: "comm", value: .string("sh")), BTFField(name: "n", value: .uint(1))])
        #expect(BTFValue.sum(of: [withName, withName]) == nil)
        #expect(BTFValue.sum(of: [.array([.uint(1), .elided(count: 9)]), .array([.uint(1), .elided(count: 9)])]) == nil)
    }
}
