import FlowSpec

/// FRR 8.4's text for operator lists, and how the missing AND/OR is decided.
///
/// `bgp_flowspec_op_decode` prints each numeric term as `<`, `>`, `=` (those set, in that order)
/// followed by ` value `, and joins terms with `, ` — the AND bit is never printed. The false
/// operator (no bit set) therefore shows as a bare ` 0 `. `bgp_flowspec_bitmask_decode` prints
/// `= ` (match bit) or `∋ ` (any bit), `! ` (not bit), the value, and joins terms with `,&` or `,|`,
/// so bitmask lists are lossless.
extension FRRReader {
    /// Why a numeric list reads the way it does; `nil` when every AND/OR reading means the same.
    struct JoinNote: Sendable {
        var text: String
    }

    /// Parses `">= 1024 , <= 2048 "` into terms with every AND bit clear (the joins are decided later).
    static func numericTerms(_ text: String) -> Result<[NumericTerm], SpeakerProblem> {
        let pieces = text.split(separator: ",", omittingEmptySubsequences: false)
        var terms = [NumericTerm]()
        for raw in pieces {
            var s = Substring(raw.speakerTrim(" \t"))
            var lt = false, gt = false, eq = false
            if s.first == "<" { lt = true; s = s.dropFirst() }
            if s.first == ">" { gt = true; s = s.dropFirst() }
            if s.first == "=" { eq = true; s = s.dropFirst() }
            let digits = s.speakerTrim(" \t")
            guard let value = parseValue(digits) else {
                return .failure("bad number \"\(digits)\" in \"\(text)\"")
            }
            terms.append(NumericTerm(lt: lt, gt: gt, eq: eq, value: value))
        }
        guard !terms.isEmpty else { return .failure("empty operator list") }
        return .success(terms)
    }

    /// FRR prints values with `%d` of a C `int`: 4-octet values at or above 2^31 come out negative.
    static func parseValue(_ s: String) -> UInt64? {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) else { return nil }
        if let v = UInt64(s) { return v }
        if let n = Int64(s), n < 0, n >= Int64(Int32.min) { return UInt64(UInt32(bitPattern: Int32(n))) }
        return nil
    }

    /// Parses `"= 2,&∋ ! 16"`.
    static func bitmaskTerms(_ text: String) -> Result<[BitmaskTerm], SpeakerProblem> {
        var terms = [BitmaskTerm]()
        for (i, raw) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            var s = Substring(raw.speakerTrim(" \t"))
            var and = false
            if i > 0 {
                switch s.first {
                case "&": and = true
                case "|": and = false
                default: return .failure("missing '&' or '|' after ',' in \"\(text)\"")
                }
                s = s.dropFirst()
            }
            s = Substring(s.speakerTrim(" \t"))
            let match: Bool
            switch s.first {
            case "=": match = true
            case "∋": match = false
            default: return .failure("expected '=' or '∋' in \"\(text)\"")
            }
            s = Substring(s.dropFirst().speakerTrim(" \t"))
            var not = false
            if s.first == "!" { not = true; s = Substring(s.dropFirst().speakerTrim(" \t")) }
            guard let value = parseValue(String(s)) else { return .failure("bad number \"\(s)\" in \"\(text)\"") }
            terms.append(BitmaskTerm(and: and, not: not, match: match, value: value))
        }
        return .success(terms)
    }

    /// Decides the AND/OR joins FRR does not print.
    ///
    /// Rule: a lower bound (`>`/`>=`) followed by an upper bound (`<`/`<=`) whose intersection is not
    /// empty is a range (AND); every other pair is OR. Then every reading is compared over the
    /// field's whole domain (0…max): readings where an AND group can never match are discarded
    /// (nobody sends `= 22 && = 23`); if all remaining readings mean the same, there is no note; if
    /// the only other meaning is "every value" (what OR makes of a range), the note says the range
    /// is an assumption; otherwise the note says the list is ambiguous and names the alternatives.
    static func resolveJoins(_ plain: [NumericTerm], type: ComponentType, text: String) -> (terms: [NumericTerm], note: JoinNote?) {
        let n = plain.count
        guard n > 1 else { return (plain, nil) }
        let max = type.maxValue
        func withJoins(_ ands: [Bool]) -> [NumericTerm] {
            var t = plain
            for i in 1..<n { t[i].and = ands[i - 1] }
            return t
        }
        var chosen = [Bool](repeating: false, count: n - 1)
        for i in 0..<(n - 1) {
            let a = plain[i], b = plain[i + 1]
            let lower = a.gt && !a.lt, upper = b.lt && !b.gt
            if lower && upper && !a.intervals(max: max).intersection(b.intervals(max: max)).isEmpty { chosen[i] = true }
        }
        let chosenTerms = withJoins(chosen)
        let chosenSet = chosenTerms.intervals(max: max)
        guard n - 1 <= 12 else {
            return (chosenTerms, JoinNote(text: "\(type.name) \"\(trimmed(text))\": FRR 8.4 does not print AND/OR between terms; read as \(describe(chosenTerms)) without checking the \(1 << (n - 1)) other readings"))
        }
        var alternatives = [(terms: [NumericTerm], set: IntervalSet)]()
        for mask in 0..<(1 << (n - 1)) {
            let ands = (0..<(n - 1)).map { mask & (1 << $0) != 0 }
            if ands == chosen { continue }
            let t = withJoins(ands)
            if hasContradictoryGroup(t, max: max) { continue }
            let s = t.intervals(max: max)
            if s != chosenSet, !alternatives.contains(where: { $0.set == s }) { alternatives.append((t, s)) }
        }
        if alternatives.isEmpty { return (chosenTerms, nil) }
        let all = IntervalSet.all(max)
        if alternatives.allSatisfy({ $0.set == all }) {
            return (chosenTerms, JoinNote(text: "assumption: \(type.name) \"\(trimmed(text))\" read as \(describe(chosenTerms)); FRR 8.4 does not print AND/OR between terms, and reading the range bounds with OR would match every value"))
        }
        let others = alternatives.map { describe($0.terms) }.joined(separator: " or ")
        return (chosenTerms, JoinNote(text: "ambiguous: \(type.name) \"\(trimmed(text))\" read as \(describe(chosenTerms)); FRR 8.4 does not print AND/OR between terms and it could also be \(others)"))
    }

    /// True when an AND group of two or more terms can never match although each term alone can.
    static func hasContradictoryGroup(_ terms: [NumericTerm], max: UInt64) -> Bool {
        var groups = [[NumericTerm]]()
        for (i, t) in terms.enumerated() {
            if i == 0 || !t.and { groups.append([t]) } else { groups[groups.count - 1].append(t) }
        }
        for g in groups where g.count > 1 {
            let each = g.map { $0.intervals(max: max) }
            if each.contains(where: \.isEmpty) { continue }
            let inter = each.dropFirst().reduce(each[0]) { $0.intersection($1) }
            if inter.isEmpty { return true }
        }
        return false
    }

    /// `(>= 1024 && <= 2048)`, `== 22 || == 23`.
    static func describe(_ terms: [NumericTerm]) -> String {
        var out = ""
        for (i, t) in terms.enumerated() {
            if i > 0 { out += t.and ? " && " : " || " }
            out += "\(t.symbol) \(t.value)"
        }
        return out
    }

    static func trimmed(_ s: String) -> String { s.speakerTrim(" ") }
}

extension StringProtocol {
    /// Trims the given ASCII characters from both ends (Foundation-free, so it works on Substring
    /// too). It works on UTF-8 bytes: trimming `Character`s with `dropLast()` re-ran grapheme
    /// breaking over the whole text for every character dropped, quadratic in a long run of
    /// trailing spaces (a 300 KB ExaBGP line took over a minute, issue #18).
    func speakerTrim(_ set: StaticString) -> String {
        let trim = UnsafeBufferPointer(start: set.utf8Start, count: set.utf8CodeUnitCount)
        var text = String(self)
        return text.withUTF8 { bytes in
            var start = 0, end = bytes.count
            while start < end, trim.contains(bytes[start]) { start += 1 }
            while end > start, trim.contains(bytes[end - 1]) { end -= 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
    }
}
