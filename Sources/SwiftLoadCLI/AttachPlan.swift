import BPFObject

/// Which program goes where, decided on the spec before loading: the run command's `--attach` requests
/// (or, without any, every program whose section names its target) resolved to programs, with the spec
/// edited so that those programs load for their targets.
struct AttachPlan {
    /// One program and the target it is attached to.
    struct Step: Equatable {
        var program: String
        var target: AttachTarget
    }

    /// The attachments, in request order (or object order without requests).
    var steps: [Step] = []
    /// Programs left unattached because their section does not name a target (said on stderr).
    var skipped: [(program: String, reason: String)] = []

    /// An error that names the request and what is wrong.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Resolves `requests` against `spec` and edits `spec`: a chosen program loads even when its section
    /// starts with `?` (as libbpf's `bpf_program__set_autoload`), and a program whose target the kernel
    /// fixes at load time (`fentry`, `tp_btf`, `iter`, ...) gets the requested target as its section name.
    /// `onlyPrograms` (from `--program`) limits which programs exist for the plan.
    static func make(_ requests: [AttachRequest], spec: inout ObjectSpec, onlyPrograms: Set<String>?) throws(Failure) -> AttachPlan {
        var plan = AttachPlan()
        let eligible = spec.programs.indices.filter { onlyPrograms?.contains(spec.programs[$0].name) ?? true }
        guard !requests.isEmpty else {
            for index in eligible where spec.programs[index].autoload {
                let program = spec.programs[index]
                if let target = program.attachTarget, target.fullyNamesTarget {
                    plan.steps.append(Step(program: program.name, target: target))
                } else {
                    let reason = program.attachTarget.map { "\($0)" } ?? "section '\(program.sectionName)' is not one swift-load knows"
                    plan.skipped.append((program.name, reason))
                }
            }
            if plan.steps.isEmpty {
                throw Failure(description: "nothing to attach: no program's section names its target; use --attach [PROGRAM=]SPEC (programs: \(names(spec, eligible)))")
            }
            return plan
        }
        var fixedTargets: [String: AttachTarget] = [:]
        for request in requests {
            let chosen: [Int]
            if let name = request.program {
                // A program named here loads even when --program did not list it.
                guard let index = spec.programs.indices.first(where: { spec.programs[$0].name == name }) else {
                    throw Failure(description: "--attach \(request): no program named '\(name)' (programs: \(names(spec, Array(spec.programs.indices))))")
                }
                guard spec.programs[index].accepts(request.target) else {
                    let program = spec.programs[index]
                    throw Failure(description: "--attach \(request): program \(name) (\(program.type), section '\(program.sectionName)') cannot take \(request.target.mechanism) targets")
                }
                chosen = [index]
            } else {
                // The program whose section names exactly this target, or this hook (tcx direction, cgroup
                // attach type); else the one program of this mechanism; else the one that can take it.
                let candidates = eligible.filter { spec.programs[$0].accepts(request.target) }
                let exact = candidates.filter { spec.programs[$0].attachTarget == request.target }
                let hook = candidates.filter { spec.programs[$0].matchesHook(of: request.target) }
                let sameMechanism = candidates.filter { spec.programs[$0].attachTarget?.mechanism == request.target.mechanism }
                if !exact.isEmpty {
                    chosen = exact
                } else if !hook.isEmpty {
                    chosen = hook
                } else if sameMechanism.count == 1 || (sameMechanism.isEmpty && candidates.count == 1) {
                    chosen = sameMechanism.isEmpty ? candidates : sameMechanism
                } else if candidates.isEmpty {
                    throw Failure(description: "--attach \(request): no program of the object takes \(request.target.mechanism) targets (programs: \(names(spec, eligible)))")
                } else {
                    let several = sameMechanism.isEmpty ? candidates : sameMechanism
                    throw Failure(description: "--attach \(request): several programs could take it (\(names(spec, several))); pick one with PROGRAM=\(request.spec)")
                }
            }
            for index in chosen {
                let name = spec.programs[index].name
                spec.programs[index].autoload = true
                if spec.programs[index].targetIsFixedAtLoad {
                    // The kernel binds these at load: one program, one target.
                    if let earlier = fixedTargets[name], earlier != request.target {
                        throw Failure(description: "--attach \(request): program \(name) is already attached to \(earlier), and the kernel fixes \(request.target.mechanism) targets when it loads a program: one target per program")
                    }
                    fixedTargets[name] = request.target
                    if spec.programs[index].attachTarget != request.target {
                        spec.programs[index].sectionName = request.target.description
                        spec.programs[index].attachTarget = request.target
                    }
                }
                plan.steps.append(Step(program: name, target: request.target))
            }
        }
        return plan
    }

    private static func names(_ spec: ObjectSpec, _ indices: [Int]) -> String {
        indices.isEmpty ? "none" : indices.map { spec.programs[$0].name }.joined(separator: ", ")
    }
}
