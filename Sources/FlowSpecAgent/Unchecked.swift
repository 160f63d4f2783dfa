/// A value moved across threads (or shared with signal handlers) by hand; the code using it
/// orders the accesses itself.
public final class Unchecked<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}
