using System.Globalization;
using Perf.Batch;

namespace Perf.LoadGen.QdiscTest;

/// <summary>
/// A class for qdisc-test: its id (also the priority that selects it), and for HTB its rate, ceil (default the rate),
/// prio and the packet limit of its leaf queue (default the device's txqueuelen).
/// </summary>
internal readonly record struct HtbClass(ushort Major, ushort Minor, string Rate, string? Ceil = null, int? Prio = null, int? Limit = null)
{
    internal uint Id => ((uint)Major << 16) | Minor;

    /// <summary>The rate the class may reach: its ceil, else its rate.</summary>
    internal string Top => Ceil ?? Rate;

    public override string ToString() => Major.ToString("x", CultureInfo.InvariantCulture) + ":" + Minor.ToString("x", CultureInfo.InvariantCulture);
}
