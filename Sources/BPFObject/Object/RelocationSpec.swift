/// What a relocation record asks the loader to patch, decided from the symbol and the instruction.
public enum RelocationTarget: Sendable, Hashable {
    /// `LD_IMM64` of a map: becomes `BPF_PSEUDO_MAP_FD` with the map's fd.
    case map(name: String)
    /// `LD_IMM64` of global data: becomes `BPF_PSEUDO_MAP_VALUE` with the map's fd and `addend` as the
    /// offset into the value. `variable` names the variable at that offset, when one covers it.
    case globalData(map: String, addend: Int64, variable: String?)
    /// A bpf-to-bpf call to the function starting at `slot` of section `section`.
    case call(section: String, slot: Int, function: String?)
    /// `LD_IMM64` of a function's address (a callback for `bpf_loop` and friends): `BPF_PSEUDO_FUNC`.
    case callback(section: String, slot: Int, function: String?)
    /// `LD_IMM64` of an extern variable: a `__kconfig` value (through the `.kconfig` map) or a `__ksym`.
    case externVariable(name: String)
    /// A call to an extern function: a kfunc (`BPF_PSEUDO_KFUNC_CALL`).
    case kfunc(name: String)
}

/// One relocation of an instruction, classified.
public struct RelocationSpec: Sendable, Hashable {
    /// Instruction slot, relative to the owning function.
    public var slot: Int
    /// The ELF relocation type (`R_BPF_64_64` = 1, `R_BPF_64_32` = 10, ...).
    public var elfType: UInt32
    /// The referenced symbol's name (the section name for section symbols).
    public var symbol: String
    /// What the relocation means.
    public var target: RelocationTarget

    /// The short kind word used by `reloc` and `inspect`: `map`, `global`, `call`, `callback`, `kconfig`,
    /// `ksym` or `kfunc` (externs are told apart by the object's extern list).
    public var kindName: String {
        switch target {
        case .map: "map"
        case .globalData: "global"
        case .call: "call"
        case .callback: "callback"
        case .externVariable: "extern"
        case .kfunc: "kfunc"
        }
    }
}

/// A global variable in a data section: the user's knobs (`const volatile` in `.rodata`) and state.
public struct VariableSpec: Sendable, Hashable {
    /// Variable name.
    public var name: String
    /// The data section (and map) holding it.
    public var section: String
    /// Byte offset in the section.
    public var offset: UInt64
    /// Size in bytes.
    public var size: UInt64
    /// BTF type id of the variable's type (0 without BTF).
    public var typeID: UInt32
    /// Whether the variable is global (visible to user space through skeletons) rather than static/hidden.
    public var isGlobal: Bool
    /// Whether it lives in a read-only section (`.rodata*`): set before load, frozen after.
    public var isReadOnly: Bool
}

/// An undefined symbol the loader must resolve from the running system.
public struct ExternSpec: Sendable, Hashable {
    /// What kind of extern.
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// A `__kconfig` value: `CONFIG_*`, `LINUX_KERNEL_VERSION`, ...; stored in the `.kconfig` map at
        /// `offset`, `size` bytes, of `valueType`.
        case kconfig(offset: UInt32, size: UInt32, valueType: KconfigValueType)
        /// A `__ksym` variable: typed (a BTF VAR of vmlinux) when `typeID` names a non-void type, else
        /// typeless (an address from kallsyms).
        case ksym(typed: Bool)
        /// A `__ksym` function: a kfunc called by BTF id.
        case kfunc
        /// Not described by BTF (or outside `.kconfig` / `.ksyms`): the object can be examined, but
        /// loading a program that uses it fails, as libbpf refuses such an object.
        case unresolved(reason: String)

        /// `kconfig`, `ksym`, `ksym (typeless)` or `kfunc`.
        public var description: String {
            switch self {
            case .kconfig: "kconfig"
            case .ksym(let typed): typed ? "ksym" : "ksym (typeless)"
            case .kfunc: "kfunc"
            case .unresolved: "unresolved"
            }
        }
    }

    /// Symbol name.
    public var name: String
    /// What kind of extern.
    public var kind: Kind
    /// Whether the extern is weak: unresolved means zero (variables) or a poisoned call (kfuncs).
    public var isWeak: Bool
    /// BTF type id of the extern's VAR or FUNC in the object's BTF.
    public var typeID: UInt32
}

/// The C type of a `__kconfig` extern, which decides how a config value is parsed.
public enum KconfigValueType: String, Sendable, Hashable {
    /// `bool`: `y` is 1, `n` or absent is 0.
    case bool
    /// `enum libbpf_tristate`: `y` 1, `m` 2, `n` 0.
    case tristate
    /// `char`: a single character value.
    case char
    /// An integer of the extern's size and signedness.
    case int
    /// `char[N]`: a quoted string.
    case string
}
