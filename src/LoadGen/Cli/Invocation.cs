namespace Perf.LoadGen.Cli;

/// <summary>One run of perfgen: its command line as the reports show it, and whether datagrams may have left yet.</summary>
internal sealed class Invocation
{
    private volatile bool _sending;

    internal Invocation(string[] args) =>
        CommandLine = "perfgen " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? "\"" + a + "\"" : a));

    /// <summary>The command line, with arguments that hold spaces quoted.</summary>
    internal string CommandLine { get; }

    /// <summary>Set once datagrams may have left, so a last-resort error exits 1 (the run failed) rather than 2.</summary>
    internal bool Sending => _sending;

    internal void MarkSending() => _sending = true;
}
