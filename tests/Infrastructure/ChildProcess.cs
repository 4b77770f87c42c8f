namespace Perf.Tests.Infrastructure;

/// <summary>Runs tests/Child (Perf.Tests.Child) as a separate process, optionally under a wrapper such as setpriv or strace.</summary>
internal static class ChildProcess
{
    internal static string Path => System.IO.Path.Combine(AppContext.BaseDirectory, "Perf.Tests.Child");

    internal static (int Code, string Output) Run(IEnumerable<string> wrapper, params string[] args)
    {
        var all = new List<string>(wrapper) { Path };
        all.AddRange(args);
        return HostTools.Run(all[0], all.Skip(1), TimeSpan.FromSeconds(60));
    }
}
