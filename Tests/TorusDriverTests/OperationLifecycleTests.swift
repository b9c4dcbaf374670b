import Testing

@testable import Torus

/// The transitions of ``OperationLifecycle``, applied by name so that a table can list them.
enum Transition: String, CaseIterable, CustomStringConvertible, Sendable {
    case reserve, submit, requestCancel, cancelNotSent, completeMore, completeFinal, release

    var description: String { rawValue }

    /// Applies the transition; returns what it returned (the cancel action, whether the
    /// completion was final), or nil for transitions that return nothing.
    @discardableResult
    func apply(to state: inout OperationLifecycle) -> String? {
        switch self {
        case .reserve:
            state.reserve()
            return nil
        case .submit:
            state.submit()
            return nil
        case .requestCancel: return "\(state.requestCancel())"
        case .cancelNotSent:
            state.cancelNotSent()
            return nil
        case .completeMore: return "\(state.complete(more: true))"
        case .completeFinal: return "\(state.complete(more: false))"
        case .release:
            state.release()
            return nil
        }
    }
}

/// Every allowed move: (from, transition) -> (to, what it returns). Everything else traps.
let validTransitions: [(from: OperationLifecycle, transition: Transition, to: OperationLifecycle, returns: String?)] = [
    (.free, .reserve, .reserved, nil),
    (.reserved, .submit, .inFlight, nil),
    (.reserved, .requestCancel, .cancelRequested, "none"),
    (.reserved, .release, .free, nil),
    (.cancelRequested, .requestCancel, .cancelRequested, "none"),
    (.cancelRequested, .release, .free, nil),
    (.inFlight, .requestCancel, .cancelSent, "sendCancel"),
    (.inFlight, .completeMore, .inFlight, "false"),
    (.inFlight, .completeFinal, .free, "true"),
    (.cancelSent, .requestCancel, .cancelSent, "none"),
    (.cancelSent, .cancelNotSent, .cancelWaiting, nil),
    (.cancelSent, .completeMore, .cancelSent, "false"),
    (.cancelSent, .completeFinal, .free, "true"),
    (.cancelWaiting, .requestCancel, .cancelSent, "sendCancel"),
    (.cancelWaiting, .completeMore, .cancelWaiting, "false"),
    (.cancelWaiting, .completeFinal, .free, "true"),
]

let allStates: [OperationLifecycle] = [.free, .reserved, .cancelRequested, .inFlight, .cancelSent, .cancelWaiting]

@Suite("Operation lifecycle")
struct OperationLifecycleTests {
    @Test("each valid transition reaches its state and returns its action", arguments: validTransitions.indices)
    func validTransition(_ index: Int) {
        let row = validTransitions[index]
        var state = row.from
        let returned = row.transition.apply(to: &state)
        #expect(state == row.to, "\(row.from) --\(row.transition)-->")
        #expect(returned == row.returns, "\(row.from) --\(row.transition)-->")
    }

    @Test("isSubmitted holds exactly where a completion is due")
    func submittedStates() {
        #expect(allStates.filter(\.isSubmitted) == [.inFlight, .cancelSent, .cancelWaiting])
    }

    @Test("the invalid pairs are the complement of the table")
    func invalidPairsCount() {
        #expect(invalidTransitions.count == allStates.count * Transition.allCases.count - validTransitions.count)
    }

    #if compiler(>=6.2)
        @Test("an invalid transition traps, naming the transition and the state", arguments: invalidTransitions)
        func invalidTransitionTraps(_ pair: InvalidPair) async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [pair] in
                var state = pair.state
                pair.transition.apply(to: &state)
            }
            if let result {
                let message = String(decoding: result.standardErrorContent, as: UTF8.self)
                #expect(message.contains("\(pair.transition.lifecycleName) is not allowed in state \(pair.state)"), "\(message)")
            }
        }
    #endif
}

/// A (state, transition) pair that the table does not allow.
struct InvalidPair: Codable, Sendable, CustomTestStringConvertible {
    var stateName: String
    var transitionName: String
    var state: OperationLifecycle { allStates.first { $0.description == stateName }! }
    var transition: Transition { Transition(rawValue: transitionName)! }
    var testDescription: String { "\(transitionName) from \(stateName)" }
}

let invalidTransitions: [InvalidPair] = allStates.flatMap { state in
    Transition.allCases.compactMap { transition in
        validTransitions.contains { $0.from == state && $0.transition == transition }
            ? nil : InvalidPair(stateName: state.description, transitionName: transition.rawValue)
    }
}

extension Transition {
    /// The name the trap message uses.
    var lifecycleName: String {
        switch self {
        case .completeMore, .completeFinal: "complete"
        default: rawValue
        }
    }
}
