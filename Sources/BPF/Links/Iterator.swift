import BPFObject
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Program {
    /// Attaches this iterator program (`SEC("iter/task")`, `iter/bpf_map`…): `BPF_LINK_CREATE` with attach
    /// type `BPF_TRACE_ITER` and no iterator parameters, so it walks every object of its kind. The link
    /// does not run the program by itself: ``Link/iteratorOutput(limit:)`` does, once per call.
    ///
    /// - Returns: the iterator link (pinnable: reading the pin with `cat` runs the program too).
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not an iterator program, or when the iterator
    ///   needs a map (`iter/bpf_map_elem`, `iter/bpf_sk_storage_map`: use ``attachIterator(map:)``).
    public func attachIterator() throws(BPFError) -> Link {
        try attachIterator(parameters: nil, target: iteratorTarget)
    }

    /// Attaches this iterator program to the elements of `map` (`SEC("iter/bpf_map_elem")`,
    /// `iter/bpf_sk_storage_map`): `BPF_LINK_CREATE` with `BPF_TRACE_ITER` and the map's descriptor in the
    /// iterator parameters (`union bpf_iter_link_info`).
    ///
    /// - Parameter map: the map whose elements the program visits; the kernel holds it while the link lives.
    /// - Returns: the iterator link; ``Link/target`` is `iter/NAME (map MAPNAME)`.
    public func attachIterator(map: Map) throws(BPFError) -> Link {
        // `map` is held by the caller for this call; the kernel takes its own reference during the command.
        try attachIterator(parameters: Self.iteratorMapParameters(mapDescriptor: map.descriptor.rawValue),
                           target: "\(iteratorTarget) (map \(map.name))")
    }

    /// `union bpf_iter_link_info` (16 bytes, as the kernel's UAPI has it) holding a map descriptor in its
    /// first word, the rest zero.
    static func iteratorMapParameters(mapDescriptor: Int32) -> [UInt32] {
        [UInt32(bitPattern: mapDescriptor), 0, 0, 0]
    }

    /// The `BPF_LINK_CREATE` attributes of an iterator link; `parameters` (when given) must stay valid
    /// while the attributes are used.
    static func iteratorLinkAttribute(program: Int32, parameters: UnsafeRawBufferPointer?) -> cbpf_link_create_attr {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: program)
        attr.attach_type = AttachType.traceIter.rawValue
        if let parameters, parameters.count > 0 {
            attr.tail.iter.iter_info = kernelPointer(parameters.baseAddress)
            attr.tail.iter.iter_info_len = UInt32(parameters.count)
        }
        return attr
    }

    /// `iter/NAME` from the section, else the section name or `iter`.
    private var iteratorTarget: String {
        if case .iter(let name)? = attachTarget { return "iter/\(name)" }
        return sectionName.isEmpty ? "iter" : sectionName
    }

    private func attachIterator(parameters: [UInt32]?, target: String) throws(BPFError) -> Link {
        guard type == .tracing && expectedAttachType == .traceIter else {
            throw BPFError(.invalidArgument, "cannot attach program \(name) as an iterator (\(target)): it is a \(type) program\(expectedAttachType.map { " with attach type \($0)" } ?? ""), and iterators are tracing programs loaded with attach type trace_iter (SEC(\"iter/NAME\"))")
        }
        let result: Result<Int, Errno>
        if let parameters {
            result = parameters.withUnsafeBytes { bytes in
                var attr = Self.iteratorLinkAttribute(program: descriptor.rawValue, parameters: bytes)
                return SystemCall.linkCreate(&attr)
            }
        } else {
            var attr = Self.iteratorLinkAttribute(program: descriptor.rawValue, parameters: nil)
            result = SystemCall.linkCreate(&attr)
        }
        switch result {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: name, target: target)
        case .failure(let errno):
            let what = "attaching iterator program \(name) to \(target)"
            // The map iterators refuse a missing map descriptor with EBADF (bpf_iter_attach_map).
            if parameters == nil, errno == .badFileDescriptor || errno == .invalidArgument,
               target.contains("map") || target.contains("storage") {
                throw BPFError(.invalidArgument, "\(what): this iterator walks the elements of a map; pass the map (attachIterator(map:)) (BPF_LINK_CREATE failed: \(errno.symbolicName))",
                               command: .linkCreate, errno: errno)
            }
            throw BPFError(errno: errno, command: .linkCreate, what)
        }
    }
}

extension Link {
    /// Runs the iterator once and returns everything its program wrote (`bpf_seq_write`,
    /// `bpf_seq_printf`): `BPF_ITER_CREATE` on this link, then reads the new descriptor to its end, which
    /// is when the program runs. The descriptor is closed before returning.
    ///
    /// - Parameter limit: the most bytes accepted; more is an error rather than a silent truncation (the
    ///   output is read whole, and an iterator over a large kernel table can be large).
    /// - Throws: ``BPFError`` `.invalidArgument` when this link is not an iterator link or is closed, or when
    ///   the output exceeds `limit`; `.kernel` when the kernel fails the read (`E2BIG` when one object's
    ///   output exceeds the kernel's buffer, a program error).
    public func iteratorOutput(limit: Int = 64 << 20) throws(BPFError) -> [UInt8] {
        guard limit >= 0 else { throw BPFError(.invalidArgument, "iterator output limit \(limit) is negative") }
        guard kind == .bpfLink, let fd = fileDescriptor else {
            throw BPFError(.invalidArgument, "cannot read \(description) as an iterator: \(isOpen ? "it is not a BPF link" : "the link is closed")")
        }
        let iterator: OwnedFileDescriptor
        switch SystemCall.iterCreate(fd) {
        case .success(let raw): iterator = try OwnedFileDescriptor(adopting: Int32(raw))
        case .failure(let errno) where errno == .invalidArgument:
            throw BPFError(.invalidArgument, "cannot read \(description) as an iterator: it is not an iterator link (BPF_ITER_CREATE failed: EINVAL)",
                           command: .iterCreate, errno: errno)
        case .failure(let errno):
            throw BPFError(errno: errno, command: .iterCreate, "opening an iterator on \(description)")
        }
        return try Self.readToEnd(iterator.rawValue, limit: limit, what: "reading the iterator of \(description)")
    }

    /// Reads `fd` until end of file, at most `limit` bytes (one more is read to tell "exactly `limit`" from
    /// "more"). `EINTR` is retried at once; `EAGAIN` (the kernel asks to retry an iterator step) after a
    /// short pause, a bounded number of times in a row.
    static func readToEnd(_ fd: Int32, limit: Int, what: String) throws(BPFError) -> [UInt8] {
        let chunkSize = 1 << 16
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var againInARow = 0
        while true {
            // Up to one byte past the limit, so that reaching it exactly is not taken for overflow.
            let wanted = min(chunkSize, limit + 1 - output.count)
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if got < 0 {
                let failure = Errno(rawValue: errno)
                if failure == .interrupted { continue }
                if failure == .resourceTemporarilyUnavailable, againInARow < 1000 {
                    againInARow += 1
                    usleep(1000)
                    continue
                }
                throw BPFError(errno: failure, command: nil, "\(what): read failed")
            }
            againInARow = 0
            if got == 0 { return output }
            output.append(contentsOf: chunk[..<got])
            if output.count > limit {
                throw BPFError(.invalidArgument, "\(what): the output exceeds the limit of \(limit) bytes; pass a larger limit")
            }
        }
    }
}
