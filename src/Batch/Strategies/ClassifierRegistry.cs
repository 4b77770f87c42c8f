using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

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
    private const string HostCheckType = "Perf.Host.ClassifierCheck, Perf.Host";
    private static IClassifierCheck? s_check;
    private static bool s_looked;

    internal static void Register(IClassifierCheck check) => s_check = check;

    internal static IClassifierCheck? Check
    {
        get
        {
            if (s_check is null && !s_looked)
            {
                s_looked = true;
                LoadHost();
            }

            return s_check;
        }
    }

    [UnconditionalSuppressMessage("Trimming", "IL2057", Justification = "A constant type name, rooted by the DynamicDependency below.")]
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, "Perf.Host.ClassifierCheck", "Perf.Host")]
    private static void LoadHost()
    {
        Type? t = Type.GetType(HostCheckType, throwOnError: false);
        if (t is not null)
        {
            RuntimeHelpers.RunClassConstructor(t.TypeHandle); // its static constructor registers it
        }
    }
}
