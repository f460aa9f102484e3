import ArgumentParser
import BPFObject

/// `swift-load inspect OBJ [--json]`: programs, maps, globals, externs, relocation counts, license.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the programs, maps, globals and externs of an object, without a kernel.")

    @Argument(help: "The BPF ELF object.")
    var object: String

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let spec = try readObject(object)
        var out = StandardOutput()
        if json {
            out.line(Self.json(spec).serialized)
        } else {
            Self.printHuman(spec, path: object, to: &out)
        }
    }

    /// Relocation counts by kind over every function, in a fixed order.
    static func relocationCounts(_ spec: ObjectSpec) -> [(String, Int)] {
        var counts: [String: Int] = [:]
        for function in spec.functions {
            for relocation in function.relocations { counts[kindName(relocation, spec), default: 0] += 1 }
            if !function.coreRelocations.isEmpty { counts["core", default: 0] += function.coreRelocations.count }
        }
        return ["map", "global", "call", "callback", "kconfig", "ksym", "kfunc", "core"].compactMap { kind in
            counts[kind].map { (kind, $0) }
        }
    }

    /// The relocation kind word of the `reloc` JSON contract (`kconfig` / `ksym` for extern variables).
    static func kindName(_ relocation: RelocationSpec, _ spec: ObjectSpec) -> String {
        guard case .externVariable(let name) = relocation.target else { return relocation.kindName }
        if case .kconfig = spec.externs.first(where: { $0.name == name })?.kind { return "kconfig" }
        return "ksym"
    }

    static func json(_ spec: ObjectSpec) -> JSON {
        .object([
            ("object", .string(spec.name)),
            ("byte_order", .string(spec.byteOrder.rawValue)),
            ("license", .string(spec.license)),
            ("kernel_version", .uint(UInt64(spec.kernelVersion))),
            ("programs", .array(spec.programs.map { program in
                .object([
                    ("name", .string(program.name)),
                    ("section", .string(program.sectionName)),
                    ("type", .string(program.type.description)),
                    ("attach_type", .optional(program.expectedAttachType?.description)),
                    ("instructions", .int(Int64(program.instructions.count))),
                    ("autoload", .bool(program.autoload)),
                    ("sleepable", .bool(program.isSleepable)),
                    ("attach_target", .optional(program.attachTarget.flatMap { $0.fullyNamesTarget ? $0.description : nil })),
                ])
            })),
            ("subprograms", .array(spec.subprograms.map { function in
                .object([("name", .string(function.name)), ("instructions", .int(Int64(function.instructions.count))),
                         ("global", .bool(function.isGlobal))])
            })),
            ("maps", .array(spec.maps.map(mapJSON))),
            ("globals", .array(spec.variables.map { variable in
                .object([
                    ("name", .string(variable.name)), ("section", .string(variable.section)),
                    ("offset", .uint(variable.offset)), ("size", .uint(variable.size)),
                    ("type", .string(typeName(variable.typeID, spec))), ("readonly", .bool(variable.isReadOnly)),
                    ("global", .bool(variable.isGlobal)),
                ])
            })),
            ("externs", .array(spec.externs.map { extern in
                .object([("name", .string(extern.name)), ("kind", .string(extern.kind.description)), ("weak", .bool(extern.isWeak))])
            })),
            ("relocations", .object(relocationCounts(spec).map { ($0.0, .int(Int64($0.1))) })),
            ("notes", .array(spec.notes.map { .string($0) })),
        ])
    }

    static func mapJSON(_ map: MapSpec) -> JSON {
        var fields: [(String, JSON)] = [
            ("name", .string(map.name)), ("kernel_name", .string(map.kernelName)),
            ("type", .string(map.type.description)), ("key_size", .uint(UInt64(map.keySize))),
            ("value_size", .uint(UInt64(map.valueSize))), ("max_entries", .uint(UInt64(map.maxEntries))),
            ("flags", .uint(UInt64(map.flags))), ("pinning", .string(map.pinning.description)),
            ("internal", .bool(map.isInternal)),
        ]
        if map.mapExtra != 0 { fields.append(("map_extra", .uint(map.mapExtra))) }
        if map.numaNode != 0 { fields.append(("numa_node", .uint(UInt64(map.numaNode)))) }
        if let inner = map.innerMap { fields.append(("inner_map", mapJSON(inner.spec))) }
        if !map.initialSlots.isEmpty {
            fields.append(("values", .array(map.initialSlots.map { .object([("index", .uint(UInt64($0.index))), ("symbol", .string($0.symbol))]) })))
        }
        return .object(fields)
    }

    /// The C spelling of a variable's BTF type (`unsigned int`, `char[16]`), or `?` without BTF.
    static func typeName(_ id: UInt32, _ spec: ObjectSpec) -> String {
        guard id != 0, let btf = spec.btf else { return "?" }
        return (try? btf.cTypeName(of: id)) ?? "?"
    }

    static func printHuman(_ spec: ObjectSpec, path: String, to out: inout StandardOutput) {
        out.line("\(path): \(spec.byteOrder) BPF object '\(spec.name)', license \"\(spec.license)\"" +
                 (spec.kernelVersion != 0 ? ", kernel version 0x\(String(spec.kernelVersion, radix: 16))" : ""))
        out.line("")
        var rows = spec.programs.map { program in
            [program.name, program.sectionName, program.type.description, program.expectedAttachType?.description ?? "-",
             "\(program.instructions.count)", program.autoload ? "yes" : "no",
             program.attachTarget.flatMap { $0.fullyNamesTarget ? $0.description : nil } ?? "-"]
        }
        Table.print(title: "programs (\(spec.programs.count))", header: ["name", "section", "type", "attach type", "insns", "autoload", "target"], rows: rows, to: &out)
        if !spec.subprograms.isEmpty {
            rows = spec.subprograms.map { [$0.name, $0.isGlobal ? "global" : "static", "\($0.instructions.count)"] }
            Table.print(title: "subprograms (\(spec.subprograms.count))", header: ["name", "linkage", "insns"], rows: rows, to: &out)
        }
        rows = spec.maps.map { map in
            [map.name, map.type.description, "\(map.keySize)", "\(map.valueSize)", "\(map.maxEntries)",
             "0x" + String(map.flags, radix: 16), map.pinning.description,
             map.isInternal ? "internal (\(map.kernelName))" : map.innerMap != nil ? "inner: \(map.innerMap!.spec.type)" : ""]
        }
        Table.print(title: "maps (\(spec.maps.count))", header: ["name", "type", "key", "value", "max", "flags", "pinning", ""], rows: rows, to: &out)
        if !spec.variables.isEmpty {
            rows = spec.variables.map { variable in
                [variable.name, variable.section, "\(variable.offset)", "\(variable.size)", typeName(variable.typeID, spec),
                 variable.isReadOnly ? "const" : "", variable.isGlobal ? "" : "static"]
            }
            Table.print(title: "globals (\(spec.variables.count))", header: ["name", "section", "offset", "size", "type", "", ""], rows: rows, to: &out)
        }
        if !spec.externs.isEmpty {
            rows = spec.externs.map { [$0.name, $0.kind.description, $0.isWeak ? "weak" : ""] }
            Table.print(title: "externs (\(spec.externs.count))", header: ["name", "kind", ""], rows: rows, to: &out)
        }
        let counts = relocationCounts(spec)
        out.line("relocations: " + (counts.isEmpty ? "none" : counts.map { "\($0.1) \($0.0)" }.joined(separator: ", ")))
        for note in spec.notes { out.line("note: " + note) }
    }
}

/// Left-aligned text columns.
enum Table {
    static func print(title: String, header: [String], rows: [[String]], to out: inout StandardOutput) {
        out.line(title + ":")
        guard !rows.isEmpty else { out.line("  (none)"); out.line(""); return }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func render(_ cells: [String]) -> String {
            var line = " "
            for (i, cell) in cells.enumerated() {
                line += " " + cell + (i == cells.count - 1 ? "" : String(repeating: " ", count: widths[i] - cell.count + 1))
            }
            return String(line.reversed().drop { $0 == " " }.reversed())
        }
        out.line(render(header))
        for row in rows { out.line(render(row)) }
        out.line("")
    }
}
