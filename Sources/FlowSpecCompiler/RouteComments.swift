import FlowSpec

/// The operators' comments on routes (`FlowRoute.comment`) by route identity, and how they go
/// onto the routes' rules and set elements (`NftRule.routeComment`,
/// `NftSetElement.routeComment`): the compiler and `IncrementalTable` know a rule's or an
/// element's route by the identity it carries as its comment, so a comment is looked up, not
/// carried through every pass.
struct RouteComments {
    private(set) var byIdentity: [String: String] = [:]

    var isEmpty: Bool { byIdentity.isEmpty }

    init() {}
    init(_ byIdentity: [String: String]) { self.byIdentity = byIdentity }

    /// Records (or, for a route without one, forgets) the comment of the route with identity `id`.
    mutating func set(_ comment: String?, for id: String) {
        byIdentity[id] = comment.map(Self.kept)
    }

    mutating func formUnion(_ other: RouteComments) {
        byIdentity.merge(other.byIdentity) { _, new in new }
    }

    /// `comment` as the kernel keeps it: no NUL (a userdata TLV's text ends at one), at most
    /// `FlowRoute.maxCommentBytes` bytes of UTF-8, cut at a character boundary.
    static func kept(_ comment: String) -> String {
        var text = comment.contains("\u{0}") ? comment.replacingNUL() : comment
        guard text.utf8.count > FlowRoute.maxCommentBytes else { return text }
        var bytes = 0
        var end = text.startIndex
        for c in text {
            let n = c.utf8.count
            if bytes + n > FlowRoute.maxCommentBytes { break }
            bytes += n
            end = text.index(after: end)
        }
        text = String(text[..<end])
        return text
    }

    /// Puts the comments on the rules and set elements of `table` whose comment is the identity
    /// of a route that has one.
    func annotate(_ table: inout NftTable) {
        guard !isEmpty else { return }
        for c in table.chains.indices { annotate(&table.chains[c].rules) }
        for s in table.sets.indices { annotate(&table.sets[s]) }
    }

    /// The same for the rules inserted and the sets and elements added by `change`.
    func annotate(_ change: inout TableChange) {
        guard !isEmpty else { return }
        for i in change.insertedRules.indices {
            if let id = change.insertedRules[i].rule.comment, let note = byIdentity[id] { change.insertedRules[i].rule.routeComment = note }
        }
        for s in change.newSets.indices { annotate(&change.newSets[s]) }
        for s in change.addedElements.indices { annotate(&change.addedElements[s]) }
    }

    private func annotate(_ rules: inout [NftRule]) {
        for r in rules.indices {
            if let id = rules[r].comment, let note = byIdentity[id] { rules[r].routeComment = note }
        }
    }

    private func annotate(_ set: inout NftSet) {
        for e in set.elements.indices {
            if let id = set.elements[e].comment, let note = byIdentity[id] { set.elements[e].routeComment = note }
        }
    }
}

private extension String {
    func replacingNUL() -> String { String(unicodeScalars.filter { $0 != "\u{0}" }.map(Character.init)) }
}
