/// One flowspec component: a prefix, a numeric operator list or a bitmask operator list.
public enum Component: Hashable, Sendable {
    case destinationPrefix(FlowPrefix)
    case sourcePrefix(FlowPrefix)
    /// Types 3–8, 10, 11, 13.
    case numeric(ComponentType, [NumericTerm])
    /// Types 9 and 12.
    case bitmask(ComponentType, [BitmaskTerm])

    public var type: ComponentType {
        switch self {
        case .destinationPrefix: .destinationPrefix
        case .sourcePrefix: .sourcePrefix
        case .numeric(let t, _), .bitmask(let t, _): t
        }
    }

    public var prefix: FlowPrefix? {
        switch self {
        case .destinationPrefix(let p), .sourcePrefix(let p): p
        default: nil
        }
    }

    public var numericTerms: [NumericTerm]? {
        if case .numeric(_, let t) = self { return t }
        return nil
    }

    public var bitmaskTerms: [BitmaskTerm]? {
        if case .bitmask(_, let t) = self { return t }
        return nil
    }
}
