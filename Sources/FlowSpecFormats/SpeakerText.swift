import FlowSpec

/// Helpers shared by the speaker readers (FRR, GoBGP, ExaBGP).
enum SpeakerText {
    /// Components sorted by type, or the duplicated type when one appears twice.
    static func ordered(_ components: [Component]) -> Result<[Component], ReadError> {
        let sorted = components.sorted { $0.type < $1.type }
        for i in sorted.indices.dropFirst() where sorted[i].type == sorted[i - 1].type {
            return .failure(ReadError(position: "", reason: "component \(sorted[i].type.name) appears twice"))
        }
        return .success(sorted)
    }
}

/// A reason a piece of speaker output was rejected; written as a string literal at the call site.
struct SpeakerProblem: Error, Sendable, ExpressibleByStringInterpolation {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    init(stringLiteral value: String) { reason = value }
}
