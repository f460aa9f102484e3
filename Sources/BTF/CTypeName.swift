extension TypeGraph {
    /// How deep `cTypeName(of:)` follows references before giving up (a loop in hostile BTF).
    static let typeNameDepthLimit = 32

    /// A short C spelling of a type for listings: `unsigned int`, `char[16]`, `struct task_struct *`,
    /// `const volatile u32`. Function pointers print as `fn *`; anonymous composites as `struct {...}`.
    public func cTypeName(of id: UInt32) throws(BTFError) -> String {
        try cTypeName(of: id, depth: 0)
    }

    private func cTypeName(of id: UInt32, depth: Int) throws(BTFError) -> String {
        guard depth < Self.typeNameDepthLimit else {
            throw BTFError(.resolutionTooDeep, "type [\(id)] refers to itself through \(depth) references", typeID: id)
        }
        if id == 0 { return "void" }
        let type = try type(id)
        let name = try name(of: id)
        func named(_ keyword: String) -> String { name.isEmpty ? "\(keyword) {...}" : "\(keyword) \(name)" }
        switch type.payload {
        case .void: return "void"
        case .int, .float, .typedef: return name
        case .struct: return named("struct")
        case .union: return named("union")
        case .enum, .enum64: return named("enum")
        case .forward(let isUnion): return named(isUnion ? "union" : "struct")
        case .pointer(let target):
            if try kind(of: try skipModifiers(target)) == .functionProto { return "fn *" }
            return try cTypeName(of: target, depth: depth + 1) + " *"
        case .array(let info):
            return try cTypeName(of: info.elementType, depth: depth + 1) + "[\(info.count)]"
        case .const(let target): return "const " + (try cTypeName(of: target, depth: depth + 1))
        case .volatile(let target): return "volatile " + (try cTypeName(of: target, depth: depth + 1))
        case .restrict(let target): return try cTypeName(of: target, depth: depth + 1) + " restrict"
        case .typeTag(let target): return try cTypeName(of: target, depth: depth + 1)
        case .functionProto: return "fn"
        case .function: return name + "()"
        case .variable(let target, _): return try cTypeName(of: target, depth: depth + 1)
        case .dataSection: return "datasec " + name
        case .declTag(let target, _): return try cTypeName(of: target, depth: depth + 1)
        }
    }
}
