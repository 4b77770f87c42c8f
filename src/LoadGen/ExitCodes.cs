namespace Perf.LoadGen;

/// <summary>perfgen's exit codes.</summary>
internal static class ExitCodes
{
    /// <summary>The run passed (or there was nothing to judge).</summary>
    internal const int Ok = 0;

    /// <summary>The run failed its checks, or failed after datagrams left.</summary>
    internal const int CheckFailed = 1;

    /// <summary>Bad input or a setup error, found before the first datagram: nothing was sent.</summary>
    internal const int BadInput = 2;
}
