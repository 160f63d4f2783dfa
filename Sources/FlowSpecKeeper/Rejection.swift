import FlowSpec
import FlowSpecFormats

/// An input item or route that did not make it into the table, by its input position, with why:
/// a value to match on (`cause`), not only text.
public struct Rejection: Sendable, Hashable, CustomStringConvertible {
    public enum Cause: Sendable, Hashable, CustomStringConvertible {
        /// The reader could not make a route of this input item.
        case unreadable(String)
        /// The route breaks a rule of RFC 8955/8956 (`FlowRoute.validate`).
        case invalid(RouteError)
        /// A valid route the kernel cannot express (the compiler's reason); the route is rejected
        /// alone, never approximated.
        case inexpressible(String)

        public var description: String {
            switch self {
            case .unreadable(let reason), .inexpressible(let reason): reason
            case .invalid(let error): "\(error)"
            }
        }
    }

    /// Where the item stands in the input (`route 4`, `line 12`, `file.json: route 2`).
    public var position: String
    /// The route, when there was one (not for unreadable items).
    public var route: FlowRoute?
    public var cause: Cause

    public init(position: String, route: FlowRoute? = nil, cause: Cause) {
        self.position = position; self.route = route; self.cause = cause
    }

    /// An input item the reader could not read.
    public init(_ error: ReadError) { self.init(position: error.position, cause: .unreadable(error.reason)) }

    /// Whether the item was a route (invalid or inexpressible), not an unreadable input item.
    public var isRoute: Bool {
        if case .unreadable = cause { false } else { true }
    }

    public var description: String { "\(position): \(cause)" }
}
