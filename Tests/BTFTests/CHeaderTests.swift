import ByteParsing
import Foundation
import Testing
import TestSupport

@testable import BTF

/// Small BTF graphs for the C header writer: layouts (bitfields, padding, packing), declarators
/// (function pointers, arrays, modifiers), name clashes, loops through pointers, and malformed loops.
enum CHeaderSamples {
    /// Integers, floats and struct layouts: bitfields, gaps the compiler fills itself, gaps it does not,
    /// packed structs, trailing padding, an empty struct, a union.
    static func layout() -> BTFBuilder {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let uint = b.int("unsigned int", size: 4)
        let char = b.int("char", size: 1, encoding: 1)
        let long = b.int("long", size: 8, encoding: 1)
        let int128 = b.int("__int128", size: 16, encoding: 1)
        let double = b.type("double", kind: 16, sizeOrType: 8)
        let bool = b.int("_Bool", size: 1, encoding: 4, bits: 8)
        _ = b.composite("bits", size: 16, members: [
            ("a", uint, 0, 3), ("b", uint, 3, 5), ("c", uint, 16, 4), ("d", char, 32, 0), ("e", long, 64, 0),
        ], kindFlag: true)
        _ = b.composite("natural_gap", size: 16, members: [("a", char, 0, 0), ("b", long, 64, 0)])
        _ = b.composite("explicit_gap", size: 16, members: [("a", char, 0, 0), ("b", int, 64, 0)])
        _ = b.composite("packed", size: 5, members: [("a", char, 0, 0), ("b", int, 8, 0)])
        _ = b.composite("tail", size: 24, members: [("a", long, 0, 0), ("b", char, 64, 0)])
        _ = b.composite("empty", size: 0, members: [])
        _ = b.composite("wide", size: 32, members: [("x", int128, 0, 0), ("d", double, 128, 0), ("f", bool, 192, 0)])
        _ = b.composite("either", union: true, size: 8, members: [("i", int, 0, 0), ("l", long, 0, 0)])
        _ = b.composite("bitgap", size: 8, members: [("a", uint, 0, 1), ("b", uint, 40, 2)], kindFlag: true)
        return b
    }

    /// Declarators: function pointers, arrays of arrays, pointers to arrays, modifiers on pointers and
    /// bases, variadic prototypes, inline anonymous structs, unions and enums, enum64, a type tag.
    static func declarations() -> BTFBuilder {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let char = b.int("char", size: 1, encoding: 1)
        let charPointer = b.pointer(char)
        let proto = b.functionProto(returning: int, params: [("n", int), ("s", charPointer)])
        let protoPointer = b.pointer(proto)
        let fnType = b.type("fn_t", kind: 8, sizeOrType: protoPointer)
        let voidProto = b.functionProto(returning: 0, params: [])
        let voidProtoPointer = b.pointer(voidProto)
        let inner = b.array(int, index: int, count: 3)
        let outer = b.array(inner, index: int, count: 2)
        let constChar = b.type(nil, kind: 10, sizeOrType: char)
        let constCharPointer = b.pointer(constChar)
        let volatileInt = b.type(nil, kind: 9, sizeOrType: int)
        let volatileIntPointer = b.pointer(volatileInt)
        let constPointer = b.type(nil, kind: 10, sizeOrType: volatileIntPointer)
        let restrictPointer = b.type(nil, kind: 11, sizeOrType: charPointer)
        let four = b.array(int, index: int, count: 4)
        let pointerToArray = b.pointer(four)
        let intPointer = b.pointer(int)
        let variadic = b.functionProto(returning: intPointer, params: [(nil, int), (nil, 0)])
        let variadicPointer = b.pointer(variadic)
        let anonStruct = b.composite(nil, size: 4, members: [("x", int, 0, 0)])
        let anonUnion = b.composite(nil, union: true, size: 4, members: [("y", int, 0, 0), ("z", char, 0, 0)])
        let anonEnum = b.enumeration(nil, signed: true, values: [("A", 1), ("B", -1)])
        let tagged = b.type("user", kind: 18, sizeOrType: int)
        let taggedPointer = b.pointer(tagged)
        let pointerArray = b.array(protoPointer, index: int, count: 2)
        _ = b.composite("holder", size: 120, members: [
            ("f", fnType, 0, 0), ("g", voidProtoPointer, 64, 0), ("arr", outer, 128, 0), ("s", constCharPointer, 320, 0),
            ("p", constPointer, 384, 0), ("r", restrictPointer, 448, 0), ("ap", pointerToArray, 512, 0),
            ("vf", variadicPointer, 576, 0), ("anon", anonStruct, 640, 0), (nil, anonUnion, 672, 0),
            ("e", anonEnum, 704, 0), ("t", taggedPointer, 768, 0), ("fa", pointerArray, 832, 0),
        ])
        _ = b.enum64("big", values: [("X", 0x1_0000_0000), ("Y", 1)])
        _ = b.enum64("negative", signed: true, values: [("N", UInt64(bitPattern: -5))])
        _ = b.enumeration(nil, values: [("TOP", 5)])
        _ = b.enumeration("unsigned_max", values: [("ALL", 0xFFFF_FFFF)])
        return b
    }

    /// Names used by several types: `foo___2`, typedef and enumerator clashes, a forward declaration
    /// sharing its definition's name, `__builtin_va_list`.
    static func nameClashes() -> BTFBuilder {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let long = b.int("long", size: 8, encoding: 1)
        _ = b.composite("foo", size: 4, members: [("a", int, 0, 0)])
        _ = b.composite("foo", size: 8, members: [("b", long, 0, 0)])
        _ = b.type("foo", kind: 7)
        _ = b.type("foo_t", kind: 8, sizeOrType: int)
        _ = b.type("foo_t", kind: 8, sizeOrType: long)
        _ = b.enumeration("first", values: [("DUP", 1), ("ONLY", 2)])
        _ = b.enumeration("second", values: [("DUP", 2)])
        _ = b.type("__builtin_va_list", kind: 8, sizeOrType: long)
        _ = b.type("__gnuc_va_list", kind: 8, sizeOrType: 0)
        return b
    }

    /// Loops C can express: a struct pointing to itself, two structs pointing to each other, a typedef of
    /// a struct that points to the typedef, an anonymous struct behind a pointer.
    static func loops() -> BTFBuilder {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        // 2: struct node { struct node *next; struct list *owner; }
        let node: UInt32 = 2
        _ = b.composite("node", size: 16, members: [("next", 3, 0, 0), ("owner", 4, 64, 0)])
        _ = b.pointer(node)  // 3
        _ = b.pointer(5)  // 4: struct list *
        // 5: struct list { struct node head; list_t *self; }
        _ = b.composite("list", size: 24, members: [("head", node, 0, 0), ("self", 7, 128, 0)])
        _ = b.type("list_t", kind: 8, sizeOrType: 5)  // 6
        _ = b.pointer(6)  // 7
        let anon = b.composite(nil, size: 4, members: [("v", int, 0, 0)])
        let anonPointer = b.pointer(anon)
        _ = b.composite("user", size: 8, members: [("p", anonPointer, 0, 0)])
        return b
    }

    /// Every kind, both byte orders (the shared test graph).
    static func allKinds(order: ByteOrder) -> BTFBuilder { AllKinds(order: order).builder }

    /// The sample names, for parameterized tests.
    static let names = ["layout", "declarations", "names", "loops", "all-kinds-el", "all-kinds-eb"]

    /// The sample called `name`.
    static func sample(_ name: String) -> BTFBuilder {
        switch name {
        case "layout": return layout()
        case "declarations": return declarations()
        case "names": return nameClashes()
        case "loops": return loops()
        case "all-kinds-eb": return allKinds(order: .big)
        default: return allKinds(order: .little)
        }
    }
}

@Suite struct CHeaderTests {
    func header(_ builder: BTFBuilder) throws -> String {
        let graph = try TypeGraph(data: builder.view())
        return String(decoding: try graph.cHeader(), as: UTF8.self)
    }

    /// The header without the guard and pragma lines around the types.
    func body(_ builder: BTFBuilder) throws -> String {
        let text = try header(builder)
        let prologue = "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
            + "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n"
        let epilogue = "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
            + "#endif /* __VMLINUX_H__ */\n"
        #expect(text.hasPrefix(prologue))
        #expect(text.hasSuffix(epilogue))
        guard text.hasPrefix(prologue), text.hasSuffix(epilogue) else { return text }
        return String(text.dropFirst(prologue.count).dropLast(epilogue.count))
    }

    @Test func emptyGraph() throws {
        var b = BTFBuilder()
        _ = b.type("unused", kind: 16, sizeOrType: 4)
        #expect(try body(b) == "")
    }

    @Test func layouts() throws {
        #expect(try body(CHeaderSamples.layout()) == """
            struct bits {
            \tunsigned int a: 3;
            \tunsigned int b: 5;
            \tshort: 8;
            \tunsigned int c: 4;
            \tint: 0;
            \tchar d;
            \tlong e;
            };

            struct natural_gap {
            \tchar a;
            \tlong b;
            };

            struct explicit_gap {
            \tchar a;
            \tlong: 0;
            \tint b;
            \tlong: 0;
            };

            struct packed {
            \tchar a;
            \tint b;
            } __attribute__((packed));

            struct tail {
            \tlong a;
            \tchar b;
            \tlong: 64;
            };

            struct empty {};

            struct wide {
            \t__int128 x;
            \tdouble d;
            \t_Bool f;
            };

            union either {
            \tint i;
            \tlong l;
            };

            struct bitgap {
            \tunsigned int a: 1;
            \tint: 31;
            \tchar: 8;
            \tunsigned int b: 2;
            };


            """)
    }

    @Test func declarations() throws {
        #expect(try body(CHeaderSamples.declarations()) == """
            typedef int (*fn_t)(int n, char *s);

            struct holder {
            \tfn_t f;
            \tvoid (*g)(void);
            \tint arr[2][3];
            \tconst char *s;
            \tvolatile int * const p;
            \tchar * restrict r;
            \tint (*ap)[4];
            \tint * (*vf)(int, ...);
            \tstruct {
            \t\tint x;
            \t} anon;
            \tunion {
            \t\tint y;
            \t\tchar z;
            \t};
            \tenum {
            \t\tA = 1,
            \t\tB = -1,
            \t} e;
            \tint __attribute__((btf_type_tag("user"))) *t;
            \tint (*fa[2])(int n, char *s);
            };

            enum big {
            \tX = 4294967296ULL,
            \tY = 1ULL,
            };

            enum negative {
            \tN = -5LL,
            };

            enum {
            \tTOP = 5,
            };

            enum unsigned_max {
            \tALL = 4294967295,
            };


            """)
    }

    @Test func nameClashes() throws {
        #expect(try body(CHeaderSamples.nameClashes()) == """
            struct foo {
            \tint a;
            };

            struct foo___2 {
            \tlong b;
            };

            struct foo;

            typedef int foo_t;

            typedef long foo_t___2;

            enum first {
            \tDUP = 1,
            \tONLY = 2,
            };

            enum second {
            \tDUP___2 = 2,
            };

            typedef __builtin_va_list __gnuc_va_list;


            """)
    }

    @Test func loopsThroughPointers() throws {
        #expect(try body(CHeaderSamples.loops()) == """
            struct list;

            struct node {
            \tstruct node *next;
            \tstruct list *owner;
            };

            typedef struct list list_t;

            struct list {
            \tstruct node head;
            \tlist_t *self;
            };

            struct user {
            \tstruct {
            \t\tint v;
            \t} *p;
            };


            """)
    }

    /// bpftool on each sample, when installed: the same bytes.
    @Test("sample graphs give bpftool's header", arguments: CHeaderSamples.names)
    func sampleAgainstBpftool(name: String) throws {
        let bpftool = Tool.path("bpftool")
        try require(bpftool != nil, "bpftool not installed (Debian: bpftool)")
        let builder = CHeaderSamples.sample(name)
        let path = NSTemporaryDirectory() + "swift-load-cheader-\(getpid())-\(name).btf"
        try Data(builder.build()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let theirs = try Tool.run(bpftool!, ["btf", "dump", "file", path, "format", "c"])
        try #require(theirs.status == 0, "bpftool: \(theirs.stderr)")
        let ours = try TypeGraph(data: builder.view()).cHeader()
        #expect(String(decoding: ours, as: UTF8.self) == theirs.stdout)
    }

    @Test func streamsInChunks() throws {
        let graph = try TypeGraph(data: CHeaderSamples.declarations().view())
        var chunks = 0
        var bytes: [UInt8] = []
        try graph.writeCHeader { chunks += 1; bytes.append(contentsOf: $0) }
        #expect(chunks >= 1)
        #expect(bytes == (try graph.cHeader()))
    }

    // MARK: - Malformed loops: an error, never a hang or a crash

    func loopError(_ build: (inout BTFBuilder) -> Void) -> BTFError? {
        var b = BTFBuilder()
        build(&b)
        return btfError {
            let graph = try TypeGraph(data: b.view())
            _ = try graph.cHeader()
        }
    }

    @Test func pointerToItself() {
        #expect(loopError { b in _ = b.pointer(1) }?.code == .resolutionTooDeep)
    }

    @Test func typedefOfItself() {
        #expect(loopError { b in _ = b.type("t", kind: 8, sizeOrType: 1) }?.code == .resolutionTooDeep)
    }

    @Test func typedefThroughPointerToItself() {
        let error = loopError { b in
            _ = b.type("t", kind: 8, sizeOrType: 2)
            _ = b.pointer(1)
        }
        #expect(error?.code == .resolutionTooDeep)
    }

    @Test func modifierLoop() {
        let error = loopError { b in
            _ = b.type(nil, kind: 10, sizeOrType: 2)
            _ = b.type(nil, kind: 9, sizeOrType: 3)
            _ = b.type(nil, kind: 18, sizeOrType: 1)
        }
        #expect(error?.code == .resolutionTooDeep)
    }

    @Test func arrayOfItself() {
        #expect(loopError { b in _ = b.type(nil, kind: 3, tail: [1, 1, 2]) }?.code == .resolutionTooDeep)
    }

    @Test func prototypeTakingPointerToItself() {
        let error = loopError { b in
            _ = b.functionProto(returning: 0, params: [("self", 2)])
            _ = b.pointer(1)
        }
        #expect(error?.code == .resolutionTooDeep)
    }

    @Test func structEmbeddingItself() {
        let named = loopError { b in _ = b.composite("s", size: 4, members: [("self", 1, 0, 0)]) }
        #expect(named?.code == .resolutionTooDeep)
        #expect(named?.typeID == 1)
        let anonymous = loopError { b in
            _ = b.composite(nil, size: 8, members: [("self", 2, 0, 0)])
            _ = b.pointer(1)
            _ = b.composite("outer", size: 8, members: [("a", 1, 0, 0)])
        }
        #expect(anonymous?.code == .resolutionTooDeep)
    }

    @Test func typedefLoopThroughStructMember() {
        // typedef t -> struct s { t member; }: s embeds itself through the typedef.
        let error = loopError { b in
            _ = b.type("t", kind: 8, sizeOrType: 2)
            _ = b.composite("s", size: 4, members: [("m", 1, 0, 0)])
        }
        #expect(error?.code == .resolutionTooDeep)
    }

    @Test func loopErrorKeepsWhatWasWritten() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        _ = b.composite("fine", size: 4, members: [("a", int, 0, 0)])
        _ = b.pointer(3)
        let graph = try TypeGraph(data: b.view())
        var bytes: [UInt8] = []
        let error = btfError { try graph.writeCHeader { bytes.append(contentsOf: $0) } }
        #expect(error?.code == .resolutionTooDeep)
        #expect(String(decoding: bytes, as: UTF8.self).contains("struct fine {\n\tint a;\n};"))
    }

    /// Members of types without a size or alignment (void, a function, a forward declaration), absurd
    /// sizes and offsets: some output, no trap.
    @Test func oddMembersDoNotTrap() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, encoding: 1)
        let forward = b.type("later", kind: 7)
        let proto = b.functionProto(returning: int, params: [])
        let function = b.type("f", kind: 12, sizeOrType: proto)
        let zeroInt = b.int("zero", size: 0, bits: 0)
        let huge = b.array(int, index: int, count: 0xFFFF_FFFF)
        _ = b.composite("odd", size: 0xFFFF_FFFF, members: [
            ("v", 0, 0, 0), ("fw", forward, 8, 0), ("fn", function, 16, 0), ("z", zeroInt, 24, 0),
            ("h", huge, 4096, 0), ("late", int, 0xFFFF_FFF0, 0),
        ])
        _ = b.composite("bits", size: 1, members: [("x", int, 0xFF_FFF0, 255)], kindFlag: true)
        let graph = try TypeGraph(data: b.view())
        // Only termination and the lack of a trap matter (offsets past 2^31 bits wrap as C ints do).
        var written = 0
        _ = btfError { try graph.writeCHeader { written += $0.count } }
        #expect(written > 0)
    }

    @Test func deepButFiniteNesting() throws {
        // 100 typedefs of typedefs: deep, not a loop.
        var b = BTFBuilder()
        var previous = b.int("int", size: 4, encoding: 1)
        for index in 0..<100 { previous = b.type("t\(index)", kind: 8, sizeOrType: previous) }
        let text = try body(b)
        #expect(text.hasPrefix("typedef int t0;\n\ntypedef t0 t1;\n\n"))
        #expect(text.hasSuffix("typedef t98 t99;\n\n"))
    }

    /// Split BTF: the header holds the base's types too, as bpftool writes it.
    @Test func splitGraphIncludesBase() throws {
        var base = BTFBuilder()
        let int = base.int("int", size: 4, encoding: 1)
        let baseGraph = try TypeGraph(data: base.view())
        var split = BTFBuilder(splitOnBaseCount: baseGraph.count, baseStringLength: baseGraph.stringLength)
        _ = split.composite("in_module", size: 4, members: [("x", int, 0, 0)])
        let graph = try TypeGraph(splitData: split.view(), base: baseGraph)
        let text = String(decoding: try graph.cHeader(), as: UTF8.self)
        #expect(text.contains("struct in_module {\n\tint x;\n};\n\n"))
    }
}

