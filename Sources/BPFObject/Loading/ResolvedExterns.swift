import BTF
import ByteParsing

/// Which kernel BTF object a BTF id belongs to.
public enum KernelBTFObject: Sendable, Hashable, CustomStringConvertible {
    /// vmlinux (the kernel gets BTF object fd 0 for it).
    case vmlinux
    /// A kernel module: the index into the list ``ExternValueSource/moduleBTFs`` returned. The loader
    /// opens that module's BTF (by its id) and passes the fd.
    case module(Int)

    /// `vmlinux` or `module #N`.
    public var description: String {
        switch self {
        case .vmlinux: "vmlinux"
        case .module(let index): "module #\(index)"
        }
    }
}

/// One extern of an object and what it resolved to.
public struct ResolvedExtern: Sendable, Hashable {
    /// What the extern resolved to.
    public enum Value: Sendable, Hashable {
        /// A `__kconfig` value, written into the `.kconfig` map image at the extern's offset.
        case kconfig(KconfigValue)
        /// A typed `__ksym` variable: a BTF VAR id in vmlinux or a module. Loaded as `BPF_PSEUDO_BTF_ID`.
        case kernelVariable(btfID: UInt32, object: KernelBTFObject)
        /// A typeless `__ksym` variable: its kernel address.
        case address(UInt64)
        /// A kfunc: its BTF FUNC id, the BTF holding it, and the `fd_array` index of that BTF's fd (0 for
        /// vmlinux), which goes into the call's `off`. An `LD_IMM64` of the kfunc (`bpf_ksym_exists`) loads
        /// it as `BPF_PSEUDO_BTF_ID`, as a typed ksym.
        case kernelFunction(btfID: UInt32, object: KernelBTFObject, fdArrayIndex: Int16)
        /// A weak extern that is absent (or whose prototype disagrees, for kfuncs): variables read 0, calls
        /// are poisoned (an invalid helper call the verifier rejects only if it is reachable).
        case absent(reason: String)
        /// An extern no BTF describes: the object can be examined, but a program that uses it cannot be
        /// finalized.
        case unresolvable(reason: String)
    }

    /// The extern as the object declares it.
    public var extern: ExternSpec
    /// Its index in ``ObjectSpec/externs`` (libbpf's extern order; poisoned kfunc calls encode it).
    public var index: Int
    /// What it resolved to.
    public var value: Value
    /// A libbpf-style debug line: `extern (kcfg) 'CONFIG_HZ': set to 250`.
    public var log: String
}

/// Every extern of an object resolved against an ``ExternValueSource``, as libbpf resolves them before
/// loading (`bpf_object__resolve_externs`), plus the `.kconfig` map's initial value.
///
/// - `__kconfig`: `CONFIG_*` from ``ExternValueSource/kernelConfig``; `LINUX_KERNEL_VERSION`,
///   `LINUX_HAS_BPF_COOKIE` and `LINUX_HAS_SYSCALL_WRAPPER` from the source's version and feature
///   answers; another `LINUX_*` is 0 when weak, an error when strong. Values are parsed as libbpf parses
///   a config line: `y`/`n`/`m` for bool (not `m`), tristate and char, a quoted string for `char[N]`
///   (truncated to N-1 bytes and NUL-terminated), an integer (`strtoull` base 0: decimal, `0x` hex, `0`
///   octal, a leading `-`) for integers and char, range-checked against the extern's size and sign. One
///   difference: ``KernelConfig`` records `# CONFIG_X is not set` as `n`, so such an option counts as set
///   to `n` (libbpf leaves it unset, failing a strong extern).
/// - typed `__ksym` variables: a BTF VAR of that name in vmlinux, else the first module that has one
///   among its own types; its type must be compatible with the extern's (``ExternTypeCompatibility``,
///   libbpf's `bpf_core_types_are_compat`), even for a weak extern.
/// - kfuncs: a BTF FUNC of the extern's essential name (the name without a `___suffix`) searched the same
///   way; the kernel prototype must be compatible with the declared one: same number of parameters, each
///   compatible, compatible return types. A weak kfunc that is absent or incompatible is poisoned. Each
///   module holding a kfunc gets an `fd_array` index, from 1 in the order found (index 0 is never used
///   for a module, as in libbpf).
/// - typeless `__ksym` variables: ``ExternValueSource/symbolAddresses``.
///
/// A strong extern that is not found is an ``ExternResolutionError`` naming it and where it was looked
/// up; a weak one is ``ResolvedExtern/Value/absent(reason:)``.
public struct ResolvedExterns: Sendable {
    /// Every extern of the object, in ``ObjectSpec/externs`` order.
    public var externs: [ResolvedExtern]
    /// The `.kconfig` map's initial value: every kconfig extern's value at its offset, in the object's byte
    /// order, zeros elsewhere; `nil` when the object has no `.kconfig` map.
    public var kconfigImage: [UInt8]?
    /// The module BTFs whose fds the programs' `fd_array` holds: `fdArrayModules[i]` (an index into
    /// ``ExternValueSource/moduleBTFs``) goes at `fd_array[i + 1]`; `fd_array[0]` stays unused (0).
    public var fdArrayModules: [Int]
    /// Names of the module BTFs searched (empty when no module had to be searched), by module index.
    public var moduleNames: [String]

    /// Resolution of an object without externs (or for an object whose externs are resolved elsewhere).
    public init(externs: [ResolvedExtern] = [], kconfigImage: [UInt8]? = nil, fdArrayModules: [Int] = [],
                moduleNames: [String] = []) {
        self.externs = externs
        self.kconfigImage = kconfigImage
        self.fdArrayModules = fdArrayModules
        self.moduleNames = moduleNames
    }

    /// The resolution of the extern named `name`.
    public func extern(named name: String) -> ResolvedExtern? { externs.first { $0.extern.name == name } }

    /// Resolves every extern of `spec` against `source`.
    ///
    /// Only the parts of `source` the externs need are read: the modules only when vmlinux lacks a
    /// symbol, the configuration only for `CONFIG_*` externs.
    /// - Throws: ``ExternResolutionError`` for the first extern (in ``ObjectSpec/externs`` order) that
    ///   cannot be resolved.
    public init(resolving spec: ObjectSpec, from source: ExternValueSource) throws(ExternResolutionError) {
        var resolver = ExternResolver(spec: spec, source: source)
        var resolved: [ResolvedExtern] = []
        for (index, extern) in spec.externs.enumerated() {
            resolved.append(try resolver.resolve(extern, index: index))
        }
        self.externs = resolved
        self.fdArrayModules = resolver.fdArrayModules
        self.moduleNames = resolver.modules?.map(\.name) ?? []
        self.kconfigImage = nil
        if let map = spec.map(named: ".kconfig") {
            self.kconfigImage = try Self.kconfigImage(size: Int(map.valueSize), initial: map.initialValue,
                                                      externs: resolved, order: spec.byteOrder)
        }
    }

    /// The `.kconfig` value: the map's initial bytes with each resolved value written at its offset.
    static func kconfigImage(size: Int, initial: [UInt8]?, externs: [ResolvedExtern],
                             order: ByteOrder) throws(ExternResolutionError) -> [UInt8] {
        var image = initial ?? []
        if image.count != size { image = [UInt8](repeating: 0, count: size) }
        for item in externs {
            guard case .kconfig(let offset, let width, _) = item.extern.kind else { continue }
            let start = Int(offset)
            let count = Int(width)
            guard start >= 0, count >= 0, start <= image.count, count <= image.count - start else {
                throw ExternResolutionError(.invalidValue, extern: item.extern.name, searched: "the .kconfig map",
                                            "extern (kcfg) '\(item.extern.name)': \(count) bytes at offset \(start) do not fit the \(image.count)-byte .kconfig map")
            }
            guard case .kconfig(let value) = item.value else { continue }  // absent: stays 0
            switch value {
            case .number(let number):
                let bits = UInt64(bitPattern: number)
                for byte in 0..<count {
                    let shift = order == .little ? byte : count - 1 - byte
                    image[start + byte] = shift < 8 ? UInt8(truncatingIfNeeded: bits >> UInt64(shift * 8)) : 0
                }
            case .string(let text):
                // Truncated to leave room for the NUL, as libbpf does.
                let bytes = Array(text.utf8.prefix(max(count - 1, 0)))
                for (position, byte) in bytes.enumerated() { image[start + position] = byte }
                if count > 0 { image[start + bytes.count] = 0 }
            }
        }
        return image
    }
}

/// The state of one resolution: the modules, read once when first needed, and the `fd_array` layout.
struct ExternResolver {
    let spec: ObjectSpec
    let source: ExternValueSource
    /// Module BTFs, once read.
    var modules: [CoreTargetBTF]?
    /// Module index → `fd_array` index.
    var fdArrayIndices: [Int: Int16] = [:]
    /// Module indices in `fd_array` order (from index 1).
    var fdArrayModules: [Int] = []

    init(spec: ObjectSpec, source: ExternValueSource) {
        self.spec = spec
        self.source = source
    }

    mutating func resolve(_ extern: ExternSpec, index: Int) throws(ExternResolutionError) -> ResolvedExtern {
        func done(_ value: ResolvedExtern.Value, _ log: String) -> ResolvedExtern {
            ResolvedExtern(extern: extern, index: index, value: value, log: log)
        }
        switch extern.kind {
        case .kconfig(_, let size, let type):
            return try resolveKconfig(extern, size: Int(size), type: type, index: index)
        case .ksym(typed: false):
            guard let addresses = source.symbolAddresses else {
                throw ExternResolutionError(.missingSource, extern: extern.name, searched: "the kernel symbol table",
                                            "extern (ksym) '\(extern.name)': no kernel symbol table (/proc/kallsyms) was given to look it up in")
            }
            if let address = addresses[extern.name] {
                return done(.address(address), "extern (ksym) '\(extern.name)': set to 0x\(String(address, radix: 16))")
            }
            guard extern.isWeak else {
                throw ExternResolutionError(.notFound, extern: extern.name, searched: "the kernel symbol table",
                                            "extern (ksym) '\(extern.name)' (strong): not found in the kernel symbol table (/proc/kallsyms)")
            }
            return done(.absent(reason: "not in the kernel symbol table"),
                        "extern '\(extern.name)' (weak): not resolved, defaulting to zero")
        case .ksym(typed: true):
            return try resolveTyped(extern, index: index, function: false)
        case .kfunc:
            return try resolveTyped(extern, index: index, function: true)
        case .unresolved(let reason):
            return done(.unresolvable(reason: reason), "extern '\(extern.name)': \(reason)")
        }
    }

    // MARK: kconfig

    mutating func resolveKconfig(_ extern: ExternSpec, size: Int, type: KconfigValueType,
                                 index: Int) throws(ExternResolutionError) -> ResolvedExtern {
        let name = extern.name
        let signed = isSigned(extern)
        let form = KconfigForm(type: type, size: size, isSigned: signed)
        func set(_ value: KconfigValue, _ shown: String) -> ResolvedExtern {
            ResolvedExtern(extern: extern, index: index, value: .kconfig(value),
                           log: "extern (kcfg) '\(name)': set to \(shown)")
        }
        if name.hasPrefix("CONFIG_") {
            guard let config = source.kernelConfig else {
                throw ExternResolutionError(.missingSource, extern: name, searched: "the kernel configuration",
                                            "extern (kcfg) '\(name)': no kernel configuration was given to read it from")
            }
            guard let text = config.values[name] else {
                guard extern.isWeak else {
                    throw ExternResolutionError(.notFound, extern: name, searched: "the kernel configuration",
                                                "extern (kcfg) '\(name)' (strong): not set in the kernel configuration")
                }
                return ResolvedExtern(extern: extern, index: index, value: .absent(reason: "not in the kernel configuration"),
                                      log: "extern '\(name)' (weak): not resolved, defaulting to zero")
            }
            let value = try form.parse(text, extern: name)
            return set(value, text)
        }
        // Virtual values the loader fills itself.
        let number: UInt64
        switch name {
        case "LINUX_KERNEL_VERSION":
            guard let version = source.kernelVersion, version != 0 else {
                throw ExternResolutionError(.missingSource, extern: name, searched: "the kernel version",
                                            "extern (kcfg) '\(name)': no kernel version was given")
            }
            number = UInt64(version)
        case "LINUX_HAS_BPF_COOKIE":
            guard let answer = source.hasBPFCookie else {
                throw ExternResolutionError(.missingSource, extern: name, searched: "the kernel's features",
                                            "extern (kcfg) '\(name)': whether the kernel supports BPF cookies was not given")
            }
            number = answer ? 1 : 0
        case "LINUX_HAS_SYSCALL_WRAPPER":
            guard let answer = source.hasSyscallWrapper else {
                throw ExternResolutionError(.missingSource, extern: name, searched: "the kernel's features",
                                            "extern (kcfg) '\(name)': whether the kernel has syscall wrappers was not given")
            }
            number = answer ? 1 : 0
        default:
            // An unknown LINUX_* value is 0 when weak; anything else is refused, as in libbpf.
            guard name.hasPrefix("LINUX_"), extern.isWeak else {
                throw ExternResolutionError(.unsupported, extern: name, searched: "the loader's virtual values",
                                            "extern (kcfg) '\(name)': unrecognized virtual extern (only CONFIG_* and the LINUX_* values the loader knows can be resolved)")
            }
            number = 0
        }
        let value = try form.number(number, extern: name)
        return set(value, "0x" + String(number, radix: 16))
    }

    /// Whether a kconfig extern's integer type is signed (its BTF INT encoding).
    func isSigned(_ extern: ExternSpec) -> Bool {
        guard let btf = spec.btf, let variable = try? btf.type(extern.typeID),
              case .variable(let typeID, _) = variable.payload,
              let resolved = try? btf.skipModifiersAndTypedefs(typeID), let type = try? btf.type(resolved),
              case .int(let info) = type.payload else { return false }
        return info.isSigned
    }

    // MARK: BTF ksyms and kfuncs

    /// Where a typed ksym or kfunc is searched, for messages.
    func searchedBTFs() -> String {
        guard let modules, !modules.isEmpty else { return "vmlinux BTF" }
        return "vmlinux BTF and \(modules.count) module BTF\(modules.count == 1 ? "" : "s")"
    }

    /// The first `kind` type named `name` in vmlinux, else in the first module that has one of its own.
    mutating func find(_ name: String, kind: BTFKind, vmlinux: TypeGraph) -> (UInt32, KernelBTFObject, TypeGraph)? {
        if let id = vmlinux.firstID(named: name, kind: kind) { return (id, .vmlinux, vmlinux) }
        if modules == nil { modules = source.moduleBTFs() }
        for (index, module) in (modules ?? []).enumerated() {
            for id in module.graph.ids(named: name, includeBase: false) where (try? module.graph.kind(of: id)) == kind {
                return (id, .module(index), module.graph)
            }
        }
        return nil
    }

    /// The name libbpf prints for a BTF object.
    func objectName(_ object: KernelBTFObject) -> String {
        guard case .module(let index) = object, let modules, index < modules.count else { return "vmlinux" }
        return modules[index].name
    }

    mutating func resolveTyped(_ extern: ExternSpec, index: Int, function: Bool) throws(ExternResolutionError) -> ResolvedExtern {
        let label = function ? "func ksym" : "var ksym"
        let name = extern.name
        guard let vmlinux = source.btf else {
            throw ExternResolutionError(.missingSource, extern: name, searched: "kernel BTF",
                                        "extern (\(label)) '\(name)': no kernel BTF was given to look it up in")
        }
        guard let local = spec.btf, let declared = try? local.type(extern.typeID) else {
            throw ExternResolutionError(.unsupported, extern: name, searched: "the object's BTF",
                                        "extern (\(label)) '\(name)': its BTF type [\(extern.typeID)] is not in the object's BTF")
        }
        // The extern's local type: a kfunc's prototype, a variable's type without modifiers and typedefs.
        let localType: UInt32
        switch declared.payload {
        case .function(let proto, _): localType = proto
        case .variable(let type, _): localType = (try? local.skipModifiersAndTypedefs(type)) ?? type
        default:
            throw ExternResolutionError(.unsupported, extern: name, searched: "the object's BTF",
                                        "extern (\(label)) '\(name)': BTF type [\(extern.typeID)] is a \(declared.kind), not a FUNC or VAR")
        }
        // kfuncs are looked up by essential name (`bpf_foo___v2` → `bpf_foo`), variables by full name.
        let lookup = function ? String(TypeGraph.essentialName(of: name)) : name
        let kind: BTFKind = function ? .function : .variable
        func absent(_ reason: String) -> ResolvedExtern {
            ResolvedExtern(extern: extern, index: index, value: .absent(reason: reason),
                           log: "extern '\(name)' (weak): \(reason)\(function ? "; the call is poisoned" : ", defaulting to zero")")
        }
        guard let (id, object, graph) = find(lookup, kind: kind, vmlinux: vmlinux) else {
            guard extern.isWeak else {
                throw ExternResolutionError(.notFound, extern: name, searched: searchedBTFs(),
                                            "extern (\(label)) '\(name)'\(lookup != name ? " (looked up as '\(lookup)')" : ""): no BTF \(function ? "FUNC" : "VAR") of that name in \(searchedBTFs())")
            }
            return absent("not found in \(searchedBTFs())")
        }
        let targetTypeID: UInt32
        do {
            let target = try graph.type(id)
            targetTypeID = function ? target.sizeOrType : try graph.skipModifiersAndTypedefs(target.sizeOrType)
        } catch {
            throw ExternResolutionError(.incompatibleType, extern: name, searched: objectName(object),
                                        "extern (\(label)) '\(name)': \(objectName(object)) BTF type [\(id)] is malformed: \(error)")
        }
        guard ExternTypeCompatibility.compatible(local, localType, graph, targetTypeID) else {
            let expected = Self.describe(local, localType)
            let found = Self.describe(graph, targetTypeID)
            // libbpf treats a weak kfunc with a mismatched prototype as absent; a variable's mismatch is an error.
            if function, extern.isWeak {
                return absent("prototype [\(localType)] \(expected) incompatible with \(objectName(object)) [\(targetTypeID)] \(found)")
            }
            throw ExternResolutionError(.incompatibleType, extern: name, searched: objectName(object),
                                        "extern (\(label)) '\(name)': incompatible types, expected [\(localType)] \(expected), but \(objectName(object)) has [\(targetTypeID)] \(found)")
        }
        guard function else {
            return ResolvedExtern(extern: extern, index: index, value: .kernelVariable(btfID: id, object: object),
                                  log: "extern (var ksym) '\(name)': resolved to \(objectName(object)) [\(id)]")
        }
        var slot: Int16 = 0
        if case .module(let module) = object {
            if let known = fdArrayIndices[module] {
                slot = known
            } else {
                // fd_array indices go into a call's 16-bit offset; 0 means vmlinux.
                guard fdArrayModules.count < Int(Int16.max) - 1 else {
                    throw ExternResolutionError(.tooManyModules, extern: name, searched: objectName(object),
                                                "extern (func ksym) '\(name)': module BTF fd index \(fdArrayModules.count + 1) does not fit in an instruction's offset")
                }
                fdArrayModules.append(module)
                slot = Int16(fdArrayModules.count)
                fdArrayIndices[module] = slot
            }
        }
        return ResolvedExtern(extern: extern, index: index,
                              value: .kernelFunction(btfID: id, object: object, fdArrayIndex: slot),
                              log: "extern (func ksym) '\(name)': resolved to \(objectName(object)) [\(id)]")
    }

    /// `KIND name` of a type, for messages.
    static func describe(_ btf: TypeGraph, _ id: UInt32) -> String {
        let kind = (try? btf.kind(of: id))?.description.lowercased() ?? "?"
        let name = (try? btf.name(of: id)) ?? ""
        return name.isEmpty ? kind : "\(kind) \(name)"
    }
}

/// How one kconfig extern stores a value: libbpf's `set_kcfg_value_*` rules.
struct KconfigForm {
    var type: KconfigValueType
    var size: Int
    var isSigned: Bool

    /// libbpf's char kind: `char`, and any other 1-byte integer.
    var isCharacter: Bool { type == .char || (type == .int && size == 1) }

    /// Parses a config value by its first character, as libbpf does: `y`/`n`/`m`, a quote, else a number.
    func parse(_ text: String, extern name: String) throws(ExternResolutionError) -> KconfigValue {
        func invalid(_ why: String) -> ExternResolutionError {
            ExternResolutionError(.invalidValue, extern: name, searched: "the kernel configuration",
                                  "extern (kcfg) '\(name)': value '\(text)' \(why)")
        }
        guard let first = text.utf8.first else { throw invalid("is empty") }
        switch first {
        case UInt8(ascii: "y"), UInt8(ascii: "n"), UInt8(ascii: "m"):
            if isCharacter { return .number(Int64(first)) }
            switch type {
            case .bool:
                guard first != UInt8(ascii: "m") else { throw invalid("implies tristate or char type") }
                return .number(first == UInt8(ascii: "y") ? 1 : 0)
            case .tristate:
                return .number(first == UInt8(ascii: "y") ? 1 : first == UInt8(ascii: "m") ? 2 : 0)
            default:
                throw invalid("implies bool, tristate, or char type")
            }
        case UInt8(ascii: "\""):
            guard type == .string else { throw invalid("implies char array type") }
            let bytes = Array(text.utf8)
            guard bytes.count >= 2, bytes.last == UInt8(ascii: "\"") else { throw invalid("is not a valid string") }
            return .string(String(decoding: bytes[1..<(bytes.count - 1)], as: UTF8.self))
        default:
            guard let number = Self.parseUnsigned(text) else { throw invalid("isn't a valid integer") }
            guard type == .int || isCharacter else { throw invalid("implies integer type") }
            return try self.number(number, extern: name)
        }
    }

    /// Stores a number, checking it fits the extern's type: bool 0 or 1, integers within their size and sign.
    func number(_ value: UInt64, extern name: String) throws(ExternResolutionError) -> KconfigValue {
        func invalid(_ why: String) -> ExternResolutionError {
            ExternResolutionError(.invalidValue, extern: name, searched: "the kernel configuration",
                                  "extern (kcfg) '\(name)': value \(value) \(why)")
        }
        guard type == .int || type == .char || type == .bool else { throw invalid("implies integer, char, or boolean type") }
        if type == .bool, value > 1 { throw invalid("isn't boolean compatible") }
        guard [1, 2, 4, 8].contains(size) else { throw invalid("cannot be stored in \(size) bytes") }
        if size < 8 {
            let bits = UInt64(size * 8)
            let fits = isSigned ? value &+ (1 << (bits - 1)) < (1 << bits) : value >> bits == 0
            guard fits else { throw invalid("doesn't fit in \(size) bytes") }
        }
        return .number(Int64(bitPattern: value))
    }

    /// `strtoull(text, &end, 0)` that must consume the whole text: optional leading spaces and sign, then
    /// `0x` hex, `0` octal or decimal digits. A `-` negates modulo 2^64; overflow is refused.
    static func parseUnsigned(_ text: String) -> UInt64? {
        var rest = Substring(text).drop { $0 == " " || $0 == "\t" }
        let negative = rest.first == "-"
        if negative || rest.first == "+" { rest = rest.dropFirst() }
        guard let value = parseCInteger(rest) else { return nil }
        return negative ? 0 &- value : value
    }
}
