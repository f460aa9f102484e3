import CBPF
import SystemPackage

/// Options of a test run (`BPF_F_TEST_*`).
public struct TestRunFlags: OptionSet, Sendable, Hashable {
    /// The kernel's `flags` bits.
    public let rawValue: UInt32
    /// Flags from the kernel's bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Run on the CPU given as `cpu` (`BPF_F_TEST_RUN_ON_CPU`; raw tracepoint programs).
    public static let onCPU = TestRunFlags(rawValue: 1 << 0)
    /// Send XDP frames through the real stack instead of returning them (`BPF_F_TEST_XDP_LIVE_FRAMES`).
    public static let xdpLiveFrames = TestRunFlags(rawValue: 1 << 1)
}

/// What a test run of a program produced.
public struct TestRunResult: Sendable, Hashable {
    /// The program's return value (`r0`) of the last run.
    public var returnValue: UInt32
    /// The packet data after the run (as the program left it; empty when no output was asked for).
    public var output: [UInt8]
    /// The context after the run, when a context was passed in (a syscall program's argument block as the
    /// program left it; nil for raw tracepoints, whose context the kernel does not copy back).
    public var context: [UInt8]?
    /// The average time of one run, as the kernel measured it (nanosecond resolution).
    public var duration: Duration
}

extension Program {
    /// The largest output or context buffer a test run grows to when the kernel asks for more.
    private static let maximumTestRunBuffer = 1 << 24

    /// Runs the program in the kernel on `input` (packet data, for networking programs at least an
    /// Ethernet header of 14 bytes) and, when given, `context` (e.g. a `struct __sk_buff` or the argument
    /// block of a syscall program), `repeat` times; returns the last run's return value and output and the
    /// average run time.
    ///
    /// `outputSize` is the room for the output packet (default: the input's size plus 256 bytes, so
    /// programs that grow the packet fit; 0 when there is no input). When the kernel reports `ENOSPC`
    /// because the output or the context did not fit, the buffers grow to the sizes it reports and the
    /// program runs again. The corresponding kernel command is `BPF_PROG_TEST_RUN`.
    /// - Throws: ``BPFError`` when the kernel refuses (`ENOTSUPP` for program types without test runs,
    ///   `EINVAL` for an input or context the type does not accept).
    public func testRun(input: [UInt8] = [], context: [UInt8]? = nil, outputSize: Int? = nil,
                        repeat repetitions: UInt32 = 1, flags: TestRunFlags = [], cpu: UInt32 = 0) throws(BPFError) -> TestRunResult {
        let what = "test run of program \(name)"
        guard input.count <= Int(UInt32.max), (context?.count ?? 0) <= Int(UInt32.max) else {
            throw BPFError(.invalidArgument, "\(what): input or context larger than 4 GiB")
        }
        var outputRoom = outputSize ?? (input.isEmpty ? 0 : input.count + 256)
        guard (0...Program.maximumTestRunBuffer).contains(outputRoom) else {
            throw BPFError(.invalidArgument, "\(what): output size \(outputRoom) out of range (0...\(Program.maximumTestRunBuffer))")
        }
        // Syscall and raw tracepoint runs refuse ctx_out (EINVAL); a syscall program's context comes back
        // in place, in the ctx_in buffer, and a raw tracepoint's is never written back.
        let contextOutRefused = type == .syscall || type == .rawTracepoint
        var contextRoom = contextOutRefused ? 0 : context?.count ?? 0
        for _ in 0..<4 {
            var contextIn = context ?? []
            var output = [UInt8](repeating: 0, count: max(outputRoom, 1))
            var contextOut = [UInt8](repeating: 0, count: max(contextRoom, 1))
            var attr = cbpf_test_run_attr()
            attr.prog_fd = UInt32(bitPattern: descriptor.rawValue)
            attr.data_size_in = UInt32(input.count)
            attr.data_size_out = UInt32(outputRoom)
            attr.ctx_size_in = UInt32(context?.count ?? 0)
            attr.ctx_size_out = UInt32(contextRoom)
            attr.repeat = repetitions
            attr.flags = flags.rawValue
            attr.cpu = cpu
            let result = input.withUnsafeBytes { inputBytes in
                contextIn.withUnsafeMutableBytes { contextBytes in
                    output.withUnsafeMutableBytes { outputBytes in
                        contextOut.withUnsafeMutableBytes { contextOutBytes in
                            attr.data_in = input.isEmpty ? 0 : kernelPointer(inputBytes.baseAddress)
                            attr.data_out = outputRoom == 0 ? 0 : kernelPointer(outputBytes.baseAddress)
                            attr.ctx_in = context == nil ? 0 : kernelPointer(contextBytes.baseAddress)
                            attr.ctx_out = context == nil || contextOutRefused ? 0 : kernelPointer(contextOutBytes.baseAddress)
                            return SystemCall.programTestRun(&attr)
                        }
                    }
                }
            }
            switch result {
            case .success:
                let outputCount = min(Int(attr.data_size_out), outputRoom)
                let contextCount = min(Int(attr.ctx_size_out), contextRoom)
                let contextBack: [UInt8]? = switch (context, type) {
                case (nil, _): nil
                case (_, .syscall): contextIn
                case (_, .rawTracepoint): nil
                default: Array(contextOut[..<contextCount])
                }
                return TestRunResult(returnValue: attr.retval, output: Array(output[..<outputCount]), context: contextBack,
                                     duration: .nanoseconds(Int64(attr.duration)))
            case .failure(.noSpace) where Int(attr.data_size_out) > outputRoom || Int(attr.ctx_size_out) > contextRoom:
                let neededOutput = max(outputRoom, Int(attr.data_size_out))
                let neededContext = max(contextRoom, Int(attr.ctx_size_out))
                guard neededOutput <= Program.maximumTestRunBuffer, neededContext <= Program.maximumTestRunBuffer else {
                    throw BPFError(.invalidArgument, "\(what): the kernel asks for \(neededOutput) output and \(neededContext) context bytes, more than \(Program.maximumTestRunBuffer)")
                }
                outputRoom = neededOutput
                contextRoom = neededContext
            case .failure(let errno):
                var error = BPFError(errno: errno, command: .programTestRun, what)
                switch errno {
                case .kernelNotSupported, .notSupported:
                    error.details.append("\(type) programs cannot be test-run on this kernel")
                case .invalidArgument:
                    error.details.append("the kernel refused the input (\(input.count) bytes), context (\(context?.count ?? 0) bytes) or flags for a \(type) program")
                case .noSpace:
                    error.details.append("the output (\(outputRoom) bytes) or context (\(contextRoom) bytes) buffer is too small")
                default: break
                }
                throw error
            }
        }
        throw BPFError(.kernel, "\(what): the output kept outgrowing its buffer (last \(outputRoom) bytes)")
    }
}
