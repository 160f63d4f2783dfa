extension Duration {
    /// The duration in seconds, as reports print it.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Seconds as logs and reports print them: to the millisecond.
    public var secondsText: String { Self.secondsText(seconds) }

    public static func secondsText(_ seconds: Double) -> String { "\((seconds * 1000).rounded() / 1000)" }
}
