/// Set names that depend only on a set's content.
///
/// The compiler numbers its sets in the order it meets them (`set0`, `set1`, …), so one route
/// inserted near the top renames every later set and every rule using one would look changed.
/// Tables applied through the delta path therefore carry content names (`s` + 16 hex digits of
/// the set's digest): the same values give the same name in every compilation, and a rule's
/// expressions compare equal exactly when the rule does. A digest collision between two sets of
/// one table is resolved with a suffix; between an old and a new table it is as improbable as
/// any 64-bit collision (and would at worst keep an old set of a changed rule; see docs).
///
/// The merge pass's sets (looked up by rules commented `merge <set>`) keep their names: those
/// already say what the set is for and not what it holds, so that a delta can change their
/// elements in place; so do the dispatch maps (`dispatch <map>`).
public enum ContentSetNames {
    public static func apply(_ table: NftTable) -> NftTable {
        var table = table
        apply(to: &table)
        return table
    }

    /// The same, in place: with the table uniquely held, only the renamed lookups are written
    /// (no copy of the rules; the rules of a million-route table are most of `apply`'s memory).
    public static func apply(to table: inout NftTable) {
        guard !table.sets.isEmpty else { return }
        let rename = renaming(table)
        for i in table.sets.indices { if let n = rename[table.sets[i].name] { table.sets[i].name = n } }
        for c in table.chains.indices {
            for r in table.chains[c].rules.indices { renameSets(in: &table.chains[c].rules[r].expressions, rename) }
        }
    }

    /// The content name of each set of `table` that is not a merge set, by its name.
    static func renaming(_ table: NftTable) -> [String: String] {
        var rename: [String: String] = [:]
        let merged = mergeSetNames(table)
        var used = merged
        for set in table.sets where !merged.contains(set.name) {
            let name = contentName(set, avoiding: used)
            used.insert(name)
            rename[set.name] = name
        }
        return rename
    }

    /// `s` + the digest of the set's content, with `_2`, `_3`, … while that is in `used`.
    static func contentName(_ set: NftSet, avoiding used: Set<String>) -> String {
        var d = StableDigest()
        d.add(set, includingName: false)
        var name = "s" + d.hex
        var n = 2
        while used.contains(name) { name = "s" + d.hex + "_\(n)"; n += 1 }
        return name
    }

    /// The sets of the merge pass and the dispatch maps: those named by a rule's `merge <set>`
    /// or `dispatch <map>` comment, and a merged rule's limit map `<set>_o` (a split limiter's,
    /// `MergeShape.splitLimiter`).
    public static func mergeSetNames(_ table: NftTable) -> Set<String> {
        var out: Set<String> = []
        for chain in table.chains {
            for rule in chain.rules {
                guard let c = rule.comment else { continue }
                if let name = MergedRule.set(inComment: c) {
                    out.insert(name)
                    out.insert(name + "_o")
                } else if let name = DispatchRule.map(inComment: c) {
                    out.insert(name)
                }
            }
        }
        return out
    }
}

