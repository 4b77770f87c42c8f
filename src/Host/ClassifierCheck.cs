using Perf.Batch;

namespace Perf.Host;

/// <summary>Perf.Batch's Auto strategy asks this, through its registry, whether mark_to_priority is on a route.</summary>
internal sealed class ClassifierCheck : IClassifierCheck
{
    static ClassifierCheck() => ClassifierRegistry.Register(new ClassifierCheck());

    public bool IsOnRoute(DatagramAddress destination, out string report) => MarkClassifier.Check(destination, out report);
}
