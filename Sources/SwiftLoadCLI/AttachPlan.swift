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
        for request in requests {
            let chosen: [Int]
            if let name = request.program {
                guard let index = eligible.first(where: { spec.programs[$0].name == name }) else {
                    throw Failure(description: "--attach \(request): no program named '\(name)' (programs: \(names(spec, eligible)))")
                }
                guard spec.programs[index].accepts(request.target) else {
                    let program = spec.programs[index]
                    throw Failure(description: "--attach \(request): program \(name) (\(program.type), section '\(program.sectionName)') cannot take \(request.target.mechanism) targets")
                }
                chosen = [index]
            } else {
                let candidates = eligible.filter { spec.programs[$0].accepts(request.target) }
                var exact = candidates.filter { spec.programs[$0].attachTarget == request.target }
                if exact.isEmpty { exact = candidates.filter { spec.programs[$0].matchesHook(of: request.target) } }
                if candidates.count == 1 {
                    chosen = candidates
                } else if !exact.isEmpty {
                    chosen = exact
                } else if candidates.isEmpty {
                    throw Failure(description: "--attach \(request): no program of the object takes \(request.target.mechanism) targets (programs: \(names(spec, eligible)))")
                } else {
                    throw Failure(description: "--attach \(request): several programs could take it (\(names(spec, candidates))); pick one with PROGRAM=\(request.spec)")
                }
            }
            for index in chosen {
                spec.programs[index].autoload = true
                if spec.programs[index].targetIsFixedAtLoad, spec.programs[index].attachTarget != request.target {
                    spec.programs[index].sectionName = request.target.description
                    spec.programs[index].attachTarget = request.target
                }
                plan.steps.append(Step(program: spec.programs[index].name, target: request.target))
            }
        }
        return plan
    }

    private static func names(_ spec: ObjectSpec, _ indices: [Int]) -> String {
        indices.isEmpty ? "none" : indices.map { spec.programs[$0].name }.joined(separator: ", ")
    }
}
