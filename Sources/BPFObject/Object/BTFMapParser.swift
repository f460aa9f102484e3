import BTF
import ELF

/// Reads the BTF-defined maps of the `.maps` section: each variable is an anonymous struct whose
/// members encode the attributes (`__uint(type, …)` is `int (*type)[N]`, `__type(key, T)` is `T *key`).
struct BTFMapParser {
    let parser: ObjectParser

    /// Attributes whose value is an integer.
    static let integerAttributes: Set<String> = [
        "type", "max_entries", "map_flags", "numa_node", "key_size", "value_size", "pinning", "map_extra",
    ]

    func parse() throws(ObjectError) -> [MapSpec] {
        guard let index = parser.mapsIndex else { return [] }
        let section = parser.file.sections[index]
        guard let btf = parser.btf, let datasec = parser.dataSection(named: ".maps") else {
            throw ObjectError(.map, "section .maps needs BTF to describe its maps, and the object has no .BTF DATASEC '.maps'")
        }
        let symbols = parser.symbolsDefined(in: index)
        var maps: [MapSpec] = []
        do {
            for entry in try btf.dataSectionVariables(of: datasec) {
                let variable = try btf.type(entry.type)
                guard case .variable(let type, _) = variable.payload else {
                    throw ObjectError(.map, ".maps DATASEC entry [\(entry.type)] is a \(variable.kind), not a variable")
                }
                let name = try btf.name(of: entry.type)
                guard let symbol = symbols.first(where: { $0.name == name }) else {
                    throw ObjectError(.map, "map '\(name)' has BTF but no symbol in section .maps")
                }
                var map = try definition(name: name, typeID: type, btf: btf, depth: 0)
                map.sectionIndex = index
                map.sectionOffset = symbol.value
                maps.append(map)
            }
            try readInitialSlots(into: &maps, section: section, btf: btf)
        } catch let error as ObjectError {
            throw error
        } catch {
            throw ObjectError(.btf, "the BTF of section .maps is malformed", cause: error as? BTFError)
        }
        return maps
    }

    /// Decodes one map definition struct; `depth` 1 is an inner map template.
    func definition(name: String, typeID: UInt32, btf: TypeGraph, depth: Int) throws -> MapSpec {
        let structID = try btf.skipModifiersAndTypedefs(typeID)
        let structure = try btf.type(structID)
        guard structure.kind == .struct, let members = structure.members else {
            throw ObjectError(.map, "map '\(name)': definition [\(structID)] is a \(structure.kind), expected a struct")
        }
        var map = MapSpec(
            name: name, kernelName: KernelName.sanitized(name), type: MapType(rawValue: 0), keySize: 0, valueSize: 0,
            maxEntries: 0, flags: 0, numaNode: 0, pinning: .none, mapExtra: 0, keyTypeID: 0, valueTypeID: 0,
            innerMap: nil, initialSlots: [], origin: depth == 0 ? .btf : .innerTemplate, initialValue: nil,
            sectionIndex: 0, sectionOffset: 0)
        var declaredKeySize: UInt32?
        var declaredValueSize: UInt32?
        for (position, member) in members.enumerated() {
            let attribute = btf.string(at: member.nameOffset) ?? ""
            let at = "map '\(name)': attribute '\(attribute)'"
            if Self.integerAttributes.contains(attribute) {
                let value = try integer(member.type, btf: btf, context: at)
                switch attribute {
                case "type": map.type = MapType(rawValue: try narrow(value, at))
                case "max_entries": map.maxEntries = try narrow(value, at)
                case "map_flags": map.flags = try narrow(value, at)
                case "numa_node": map.numaNode = try narrow(value, at)
                case "key_size": declaredKeySize = try narrow(value, at)
                case "value_size": declaredValueSize = try narrow(value, at)
                case "map_extra": map.mapExtra = value
                default:
                    switch value {
                    case 0: map.pinning = .none
                    case 1: map.pinning = .byName
                    default: throw ObjectError(.map, "\(at): pinning \(value) is neither 0 (none) nor 1 (LIBBPF_PIN_BY_NAME)")
                    }
                }
            } else if attribute == "key" || attribute == "value" {
                let pointer = try btf.type(try btf.skipModifiersAndTypedefs(member.type))
                guard case .pointer(let pointee) = pointer.payload else {
                    throw ObjectError(.map, "\(at) must be a pointer to the \(attribute) type, found \(pointer.kind)")
                }
                let size = UInt32(clamping: try btf.resolvedSize(of: pointee))
                if attribute == "key" { map.keyTypeID = pointee; map.keySize = size } else { map.valueTypeID = pointee; map.valueSize = size }
            } else if attribute == "values" {
                guard position == members.count - 1 else {
                    throw ObjectError(.map, "\(at) must be the last member of the definition")
                }
                let array = try btf.type(try btf.skipModifiersAndTypedefs(member.type))
                guard case .array(let info) = array.payload, info.count == 0 else {
                    throw ObjectError(.map, "\(at) must be a zero-length array of pointers")
                }
                let element = try btf.type(try btf.skipModifiersAndTypedefs(info.elementType))
                guard case .pointer(let target) = element.payload else {
                    throw ObjectError(.map, "\(at) must be an array of pointers, found an array of \(element.kind)")
                }
                let resolved = try btf.skipModifiersAndTypedefs(target)
                if try btf.kind(of: resolved) == .struct {
                    guard depth == 0 else { throw ObjectError(.map, "\(at): an inner map cannot itself hold maps") }
                    map.innerMap = InnerMap(try definition(name: name + ".inner", typeID: resolved, btf: btf, depth: depth + 1))
                } else if try btf.kind(of: resolved) != .functionProto {
                    throw ObjectError(.map, "\(at) must point to a map definition or a function, found \(try btf.kind(of: resolved))")
                }
            } else {
                throw ObjectError(.map, "map '\(name)': unknown attribute '\(attribute)'")
            }
        }
        for (declared, fromType, what) in [(declaredKeySize, map.keySize, "key"), (declaredValueSize, map.valueSize, "value")] {
            guard let declared else { continue }
            if fromType != 0, declared != fromType {
                throw ObjectError(.map, "map '\(name)': \(what)_size \(declared) disagrees with the \(what) type's size \(fromType)")
            }
            if what == "key" { map.keySize = declared } else { map.valueSize = declared }
        }
        // Map-in-map and program array values are file descriptors: 4 bytes, whatever the source says.
        if map.innerMap != nil || (map.type == .progArray && members.contains { btf.string(at: $0.nameOffset) == "values" }) {
            guard map.valueSize == 0 || map.valueSize == 4 else {
                throw ObjectError(.map, "map '\(name)': value size \(map.valueSize) conflicts with the 4-byte descriptors its values hold")
            }
            map.valueSize = 4
        }
        return map
    }

    /// `int (*name)[N]` → N; `enum { x = N } name` (libbpf's 64-bit `__ulong`) → N.
    func integer(_ typeID: UInt32, btf: TypeGraph, context: String) throws -> UInt64 {
        let type = try btf.type(try btf.skipModifiersAndTypedefs(typeID))
        switch type.payload {
        case .pointer(let target):
            let array = try btf.type(try btf.skipModifiers(target))
            guard case .array(let info) = array.payload else {
                throw ObjectError(.map, "\(context) must be encoded as int (*)[N], found a pointer to \(array.kind)")
            }
            return UInt64(info.count)
        case .enum(_, _, let values), .enum64(_, _, let values):
            guard values.count == 1 else { throw ObjectError(.map, "\(context): an enum-encoded value needs exactly one enumerator") }
            return values[0].rawValue
        default:
            throw ObjectError(.map, "\(context) must be encoded as int (*)[N], found \(type.kind)")
        }
    }

    func narrow(_ value: UInt64, _ context: String) throws -> UInt32 {
        guard let narrowed = UInt32(exactly: value) else { throw ObjectError(.map, "\(context): \(value) does not fit in 32 bits") }
        return narrowed
    }

    /// `.rel.maps`: each record points into some map's `values` array and names what goes in that slot.
    func readInitialSlots(into maps: inout [MapSpec], section: ELFSection, btf: TypeGraph) throws {
        let file = parser.file
        guard let relocations = file.relocationSections.first(where: { Int($0.info) == section.index }) else { return }
        let records = try file.relocations(in: relocations, symbolCount: parser.symbols.count)
        var layouts: [Int: (values: UInt64, size: UInt64)] = [:]  // per map: found once, not per slot
        for record in records {
            guard let index = maps.lastIndex(where: { $0.sectionOffset <= record.offset }) else {
                throw ObjectError(.map, ".rel.maps record at offset \(record.offset) precedes every map")
            }
            let map = maps[index]
            let layout = try layouts[index] ?? valuesMemberOffset(of: map.name, btf: btf)
            layouts[index] = layout
            let (valuesOffset, structSize) = layout
            let relative = record.offset - map.sectionOffset
            guard relative >= valuesOffset, (relative - valuesOffset) % 8 == 0, relative < structSize + 8 * UInt64(map.maxEntries) else {
                throw ObjectError(.map, "map '\(map.name)': .rel.maps record at offset \(record.offset) is not a slot of its values array")
            }
            let slot = UInt32((relative - valuesOffset) / 8)
            guard slot < map.maxEntries else {
                throw ObjectError(.map, "map '\(map.name)': initial value for slot \(slot) exceeds max_entries \(map.maxEntries)")
            }
            let symbol = parser.symbols[record.symbolIndex]
            let isProgramArray = map.type == .progArray
            if isProgramArray {
                guard symbol.type == .function else {
                    throw ObjectError(.map, "map '\(map.name)': slot \(slot) must name a program, '\(symbol.name)' is not a function")
                }
            } else {
                guard map.innerMap != nil, Int(symbol.sectionIndex) == section.index else {
                    throw ObjectError(.map, "map '\(map.name)': slot \(slot) names '\(symbol.name)', which is not a map of this object")
                }
            }
            maps[index].initialSlots.append(MapSlotSpec(index: slot, symbol: symbol.name))
        }
    }

    /// Byte offset of the `values` member in a map's definition, and the definition's size.
    func valuesMemberOffset(of mapName: String, btf: TypeGraph) throws -> (UInt64, UInt64) {
        guard let variable = btf.ids(named: mapName).first(where: { (try? btf.kind(of: $0)) == .variable }),
              case .variable(let type, _) = try btf.type(variable).payload else {
            throw ObjectError(.map, "map '\(mapName)' has initial values but no BTF variable")
        }
        let structID = try btf.skipModifiersAndTypedefs(type)
        let members = try btf.members(of: structID)
        guard let last = members.last, btf.string(at: last.nameOffset) == "values" else {
            throw ObjectError(.map, "map '\(mapName)' has initial values but no 'values' attribute")
        }
        return (UInt64(last.bitOffset / 8), UInt64(try btf.resolvedSize(of: structID)))
    }
}
