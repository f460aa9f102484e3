import BPFObject
import CBPF
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Program {
    /// Attaches this BTF-typed tracing program: `tp_btf`, `fentry`, `fexit`, `fmod_ret` or `lsm`. Its
    /// target was fixed when it was loaded (the `attach_btf_id` of the tracepoint, function or hook), so
    /// nothing more is named here.
    ///
    /// Uses `BPF_LINK_CREATE` with the program's expected attach type (kernel 5.7 for fentry-style links;
    /// `tp_btf` links with cookies since 6.10). When that command refuses with `EINVAL` (older kernels) and
    /// no cookie is asked for, falls back to `BPF_RAW_TRACEPOINT_OPEN` without a name, which gives the same
    /// kind of link. Either way the result is a pinnable BPF link.
    ///
    /// - Parameter cookie: a value the program reads with `bpf_get_attach_cookie()`; needs `BPF_LINK_CREATE`
    ///   for this kind of program (5.19 for fentry/fexit/fmod_ret/lsm, 6.10 for `tp_btf`).
    /// - Returns: the attachment; ``Link/target`` is the program's section (`fentry/do_unlinkat`).
    /// - Throws: ``BPFError`` `.invalidArgument` for programs of other kinds (iterators, freplace, raw
    ///   tracepoints: each has its own call), `.unsupported` when the kernel refuses the mechanism
    ///   ("fentry needs BPF trampolines, which this kernel refuses (EPERM)") or a cookie, `.permission`
    ///   without root.
    public func attachTracing(cookie: UInt64? = nil) throws(BPFError) -> Link {
        try attachTracing(cookie: cookie, forceRawTracepointOpen: false)
    }

    /// ``attachTracing(cookie:)``, optionally skipping `BPF_LINK_CREATE` as if the kernel had refused it,
    /// so that the older kernels' path can be exercised on any kernel.
    func attachTracing(cookie: UInt64?, forceRawTracepointOpen: Bool) throws(BPFError) -> Link {
        let family = try tracingFamily()
        let target = tracingTarget(family)
        let what = "attaching program \(name) to \(target)"
        var attr = Self.tracingLinkAttribute(program: descriptor.rawValue, attachType: family.attachType, cookie: cookie)
        let linkErrno: Errno
        let created: Result<Int, Errno> = forceRawTracepointOpen ? .failure(.invalidArgument) : SystemCall.linkCreate(&attr)
        switch created {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: name, target: target)
        case .failure(let errno):
            linkErrno = errno
        }
        guard linkErrno == .invalidArgument else {
            throw Self.tracingError(linkErrno, family: family, command: .linkCreate, what: what)
        }
        // BPF_LINK_CREATE does not know this kind of program on this kernel: the pre-link command, which
        // cannot carry a cookie.
        if let cookie, cookie != 0 {
            throw BPFError(.unsupported, "\(what): BPF cookies on \(family.word) links need BPF_LINK_CREATE for \(family.word) (Linux \(family.cookieKernel)), which this kernel refuses (EINVAL)",
                           command: .linkCreate, errno: linkErrno)
        }
        switch SystemCall.rawTracepointOpen(program: descriptor.rawValue, name: nil) {
        case .success(let fd):
            return Link(descriptor: try OwnedFileDescriptor(adopting: Int32(fd)), kind: .bpfLink, programName: name, target: target)
        case .failure(let errno):
            var error = Self.tracingError(errno, family: family, command: .rawTracepointOpen, what: what)
            error.details.append("BPF_LINK_CREATE with attach type \(family.attachType) failed first: EINVAL")
            throw error
        }
    }

    /// The kinds of program ``attachTracing(cookie:)`` attaches, with the word users know them by.
    struct TracingFamily: Equatable {
        /// The section prefix: `tp_btf`, `fentry`, `fexit`, `fmod_ret`, `lsm`.
        var word: String
        /// The attach type the program was loaded with, which `BPF_LINK_CREATE` must repeat.
        var attachType: AttachType
        /// Whether the kernel attaches it through a BPF trampoline (all but `tp_btf`).
        var needsTrampoline: Bool
        /// The first kernel whose `BPF_LINK_CREATE` takes a cookie for it.
        var cookieKernel: String
    }

    /// The tracing family of a program type and expected attach type, or nil when
    /// ``attachTracing(cookie:)`` does not attach such programs.
    static func tracingFamily(type: ProgramType, attachType: AttachType?) -> TracingFamily? {
        switch (type, attachType) {
        case (.tracing, .traceRawTP?): TracingFamily(word: "tp_btf", attachType: .traceRawTP, needsTrampoline: false, cookieKernel: "6.10")
        case (.tracing, .traceFentry?): TracingFamily(word: "fentry", attachType: .traceFentry, needsTrampoline: true, cookieKernel: "5.19")
        case (.tracing, .traceFexit?): TracingFamily(word: "fexit", attachType: .traceFexit, needsTrampoline: true, cookieKernel: "5.19")
        case (.tracing, .modifyReturn?): TracingFamily(word: "fmod_ret", attachType: .modifyReturn, needsTrampoline: true, cookieKernel: "5.19")
        case (.lsm, .lsmMac?): TracingFamily(word: "lsm", attachType: .lsmMac, needsTrampoline: true, cookieKernel: "5.19")
        default: nil
        }
    }

    /// This program's tracing family, or the error that says which call attaches it instead.
    private func tracingFamily() throws(BPFError) -> TracingFamily {
        if let family = Self.tracingFamily(type: type, attachType: expectedAttachType) { return family }
        let attach = expectedAttachType.map { " with attach type \($0)" } ?? ""
        var message = "cannot attach program \(name) with attachTracing(): it is a \(type) program\(attach), and attachTracing() takes tp_btf, fentry, fexit, fmod_ret and lsm programs"
        if type == .tracing && expectedAttachType == .traceIter {
            message += "; an iterator attaches with attachIterator()"
        } else if type == .rawTracepoint || type == .rawTracepointWritable {
            message += "; a raw tracepoint attaches with attachRawTracepoint(name:)"
        } else if type == .ext {
            message += "; freplace programs replace a function of another BPF program, which is not supported here"
        }
        throw BPFError(.invalidArgument, message)
    }

    /// `tp_btf/NAME`, `fentry/FUNC`…: the program's section when it names the target, else the family and
    /// the program's section (a program opened by id has neither: `fentry (attach BTF id)`).
    private func tracingTarget(_ family: TracingFamily) -> String {
        switch attachTarget {
        case .btfTracepoint(let name)?: return "tp_btf/\(name)"
        case .fentry(let function)?: return "fentry/\(function)"
        case .fexit(let function)?: return "fexit/\(function)"
        case .fmodRet(let function)?: return "fmod_ret/\(function)"
        case .lsm(let hook)?: return "lsm/\(hook)"
        default: return sectionName.isEmpty ? "\(family.word) (its attach BTF id)" : sectionName
        }
    }

    /// The `BPF_LINK_CREATE` attributes of a tracing link: no target descriptor and target BTF id 0 (the
    /// program was loaded with its `attach_btf_id`), the expected attach type, the cookie.
    static func tracingLinkAttribute(program: Int32, attachType: AttachType, cookie: UInt64?) -> cbpf_link_create_attr {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = UInt32(bitPattern: program)
        attr.attach_type = attachType.rawValue
        attr.tail.tracing.target_btf_id = 0
        attr.tail.tracing.cookie = cookie ?? 0
        return attr
    }

    /// A refused tracing attachment in words a user can act on. Trampoline families name the missing
    /// trampolines for the errnos a kernel without them returns (as the loader does at load time).
    static func tracingError(_ errno: Errno, family: TracingFamily, command: BPFCommand, what: String) -> BPFError {
        if errno == .notPermitted && geteuid() != 0 {
            return BPFError(.permission, "\(what): attaching needs root or CAP_BPF + CAP_PERFMON (EPERM)", command: command, errno: errno)
        }
        if family.needsTrampoline, errno == .notPermitted || errno == .kernelNotSupported || errno == .notSupported {
            return BPFError(.unsupported, "\(what): \(family.word) needs BPF trampolines, which this kernel refuses (\(errno.symbolicName))",
                            command: command, errno: errno)
        }
        return BPFError(errno: errno, command: command, what)
    }
}
