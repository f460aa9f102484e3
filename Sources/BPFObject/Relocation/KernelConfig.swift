import ByteParsing

/// A kernel configuration (`.config` text: `/proc/config.gz` decompressed, `/boot/config-$(uname -r)`):
/// the `CONFIG_*` values `__kconfig` externs read.
public struct KernelConfig: Sendable {
    /// Values by option name (`CONFIG_BPF`), as written after `=`: `y`, `m`, `n`, a number, a quoted
    /// string. `# CONFIG_X is not set` gives `n`.
    public var values: [String: String]

    /// An empty configuration (every option unset).
    public init(values: [String: String] = [:]) { self.values = values }

    /// Parses `.config` text. Lines that are neither assignments nor "is not set" comments are ignored,
    /// as the kernel's own tools do.
    public init(parsing text: String) {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# CONFIG_"), line.hasSuffix(" is not set") {
                let name = line.dropFirst(2).dropLast(" is not set".count)
                values[String(name)] = "n"
            } else if line.hasPrefix("CONFIG_"), let equals = line.firstIndex(of: "=") {
                values[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        self.values = values
    }

    /// Reads a `.config` file, plain or gzip-compressed (`/proc/config.gz`).
    /// - Throws: a one-line reason naming the file when it cannot be read or decompressed.
    public init(contentsOf path: String) throws(KernelConfigReadError) {
        let bytes: [UInt8]
        do {
            let storage = try ByteStorage(contentsOf: path, maximumSize: Inflate.defaultOutputLimit)
            let view = storage.view(order: .little)
            bytes = view.bytes(0, view.count) ?? []
        } catch {
            throw KernelConfigReadError(description: "\(path): \(error.reason)")
        }
        guard bytes.starts(with: [0x1f, 0x8b]) else {
            self.init(parsing: String(decoding: bytes, as: UTF8.self))
            return
        }
        do {
            self.init(parsing: String(decoding: try Inflate.gunzip(bytes), as: UTF8.self))
        } catch {
            throw KernelConfigReadError(description: "\(path): \(error)")
        }
    }

    /// The value of an extern of the given type, as libbpf would store it, or `nil` when the option is
    /// absent (a weak extern is then 0) or its text does not fit the type.
    public func value(of name: String, as type: KconfigValueType) -> KconfigValue? {
        guard let text = values[name] else { return nil }
        return KconfigValue(parsing: text, as: type)
    }
}

/// A `__kconfig` extern's value.
public enum KconfigValue: Sendable, Hashable, CustomStringConvertible {
    /// A number (bool and tristate included: `n` 0, `y` 1, `m` 2).
    case number(Int64)
    /// A string (without quotes).
    case string(String)

    /// Parses a config value for an extern type: `y`/`n`/`m` for bool and tristate (bool refuses `m`),
    /// decimal or `0x` hex integers, a quoted string for `char[N]`.
    public init?(parsing text: String, as type: KconfigValueType) {
        switch type {
        case .bool, .tristate:
            switch text {
            case "y": self = .number(1)
            case "n": self = .number(0)
            case "m" where type == .tristate: self = .number(2)
            default: return nil
            }
        case .char:
            guard text.utf8.count == 1, let byte = text.utf8.first else { return nil }
            self = .number(Int64(byte))
        case .int:
            let negative = text.hasPrefix("-")
            let digits = negative ? text.dropFirst() : Substring(text)
            let value = digits.hasPrefix("0x") || digits.hasPrefix("0X")
                ? UInt64(digits.dropFirst(2), radix: 16) : UInt64(digits, radix: 10)
            guard let value else { return nil }
            self = .number(negative ? -Int64(bitPattern: value) : Int64(bitPattern: value))
        case .string:
            guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return nil }
            self = .string(String(text.dropFirst().dropLast()))
        }
    }

    /// The number, or the quoted string.
    public var description: String {
        switch self {
        case .number(let value): String(value)
        case .string(let value): "\"\(value)\""
        }
    }
}

/// A kernel configuration file that cannot be read.
public struct KernelConfigReadError: Error, Sendable, CustomStringConvertible {
    /// `path: reason`.
    public var description: String
}
