import BPFObject

extension Program {
    /// Attaches this tracepoint program to the kernel tracepoint `category`/`name`
    /// (`tracepoint/syscalls/sys_enter_execve` is category `syscalls`, name `sys_enter_execve`).
    ///
    /// Reads the tracepoint's id from tracefs (mounting tracefs when needed, see ``TraceFS``), opens a
    /// `PERF_TYPE_TRACEPOINT` perf event for every process, and attaches through a perf link, or through
    /// `PERF_EVENT_IOC_SET_BPF` on kernels without perf links (see ``attach(perfEvent:cookie:target:)``).
    ///
    /// - Parameters:
    ///   - category: the tracepoint's category (its directory under `<tracefs>/events`).
    ///   - name: the tracepoint's name within the category.
    ///   - cookie: a value the program reads with `bpf_get_attach_cookie()` (needs perf links).
    /// - Returns: the attachment; closing it detaches the program.
    /// - Throws: ``BPFError`` `.invalidArgument` when this is not a tracepoint program, `.notFound` when the
    ///   kernel has no such tracepoint, `.permission` without root.
    public func attachTracepoint(category: String, name: String, cookie: UInt64? = nil) throws(BPFError) -> Link {
        let target = "tracepoint/\(category)/\(name)"
        guard type == .tracepoint else {
            throw BPFError(.invalidArgument, "cannot attach program \(self.name) to \(target): it is a \(type) program, and tracepoints take tracepoint programs (SEC(\"tracepoint/CATEGORY/NAME\"))")
        }
        let id = try TraceFS.tracepointID(category: category, name: name)
        let event = try PerfEvent.openTracepoint(id: id, what: target)
        return try attach(perfEvent: event, cookie: cookie, target: target)
    }

    /// Attaches this tracepoint program to the tracepoint its section names (`SEC("tracepoint/CAT/NAME")`).
    /// - Throws: ``BPFError`` `.invalidArgument` when the section names no tracepoint, and the errors of
    ///   ``attachTracepoint(category:name:cookie:)``.
    public func attachTracepoint(cookie: UInt64? = nil) throws(BPFError) -> Link {
        guard case .tracepoint(let category, let name)? = attachTarget else {
            throw BPFError(.invalidArgument, "program \(self.name) (section \(sectionName.isEmpty ? "unknown" : sectionName)) names no tracepoint: call attachTracepoint(category:name:)")
        }
        return try attachTracepoint(category: category, name: name, cookie: cookie)
    }
}
