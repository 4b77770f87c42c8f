namespace Perf.Batch;

/// <summary>Answers whether the mark_to_priority classifier is on a destination's route; implemented by Perf.Host.</summary>
internal interface IClassifierCheck
{
    /// <summary>True where the classifier is attached to the route's egress device; <paramref name="report"/> says what was found.</summary>
    bool IsOnRoute(DatagramAddress destination, out string report);
}

/// <summary>
/// Where Perf.Host registers its classifier check, as Perf.Uring registers its backend. Perf.Batch talks neither netlink
/// nor bpf(2): without Perf.Host in the application, Auto takes MarkAndBpf only where ClassifierAttached says so.
/// </summary>
internal static class ClassifierRegistry
{
    private static readonly ProviderSlot<IClassifierCheck> s_check = new("Perf.Host.ClassifierCheck, Perf.Host");

    internal static void Register(IClassifierCheck check) => s_check.Register(check);

    internal static IClassifierCheck? Check => s_check.Value;
}
