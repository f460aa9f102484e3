import BTF

extension FunctionSpec {
    /// What the annotated disassembly prints about this function: names for relocated instructions,
    /// source lines from `line_info`, and a note per relocation and CO-RE record.
    public func disassemblyAnnotations(btf: TypeGraph?) -> DisassemblyAnnotationTable {
        var table = DisassemblyAnnotationTable()
        for relocation in relocations {
            switch relocation.target {
            case .map(let name):
                table.references[relocation.slot] = .map(name: name)
            case .globalData(let map, let addend, let variable):
                table.references[relocation.slot] = .mapValue(name: map, offset: addend)
                if let variable { table.addNote(variable, at: relocation.slot) }
            case .call(_, let slot, let function), .callback(_, let slot, let function):
                table.references[relocation.slot] = .function(name: function ?? "\(relocation.symbol)+\(slot)")
            case .externVariable(let name):
                table.references[relocation.slot] = .kernelSymbol(name: name)
            case .kfunc(let name):
                table.references[relocation.slot] = .kfunc(name: name)
            }
        }
        for record in lineInfo where !record.lineText.isEmpty {
            table.sourceLines[record.slot] = record.lineText.trimmingLeadingSpaces
        }
        for record in coreRelocations {
            table.addNote("CO-RE \(record.kindName) \(record.describe(btf: btf))", at: record.slot)
        }
        return table
    }
}

extension CoreRelocationSpec {
    /// Relocation kind names, as libbpf prints them, indexed by kind.
    public static let kindNames = [
        "byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64", "local_type_id",
        "target_type_id", "type_exists", "type_size", "enumval_exists", "enumval_value", "type_matches",
    ]

    /// `byte_off`, …, or `kind N` for a kind this loader does not know.
    public var kindName: String {
        kind < Self.kindNames.count ? Self.kindNames[Int(kind)] : "kind \(kind)"
    }

    /// `[42] struct task_struct (0:88)`: the local root type and the access string.
    public func describe(btf: TypeGraph?) -> String {
        guard let btf, let type = try? btf.type(typeID) else { return "[\(typeID)] (\(accessString))" }
        let name = (try? btf.name(of: typeID)) ?? ""
        let kind = type.kind == .struct ? "struct " : type.kind == .union ? "union " : type.kind.isEnum ? "enum " : ""
        return "[\(typeID)] \(kind)\(name.isEmpty ? "<anon>" : name) (\(accessString))"
    }
}

extension String {
    var trimmingLeadingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" })
    }
}
