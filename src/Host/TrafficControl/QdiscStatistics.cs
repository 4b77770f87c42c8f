using Perf.Batch;

namespace Perf.Host;

/// <summary>
/// Reads a device's qdiscs and classes with their statistics over rtnetlink, in-process: what <c>tc -s qdisc show</c>
/// and <c>tc -s class show</c> print, for any qdisc kind, without running tc or parsing its text. Only reads: nothing
/// on the device changes.
/// </summary>
public static class QdiscStatistics
{
    /// <summary>Every qdisc and every class of <paramref name="device"/> (qdiscs first), in <paramref name="netns"/> or here.</summary>
    /// <exception cref="ArgumentException">Not a device or namespace name.</exception>
    /// <exception cref="PerfSocketException">The device does not exist there (ENODEV), or the kernel refused the dump.</exception>
    public static IReadOnlyList<TcStatistics> Read(string device, string? netns = null) => HostDevices.InNamespace(netns, () =>
    {
        int ifindex = HostDevices.IndexOf(device);
        using RouteNetlink nl = RouteNetlink.Open();
        List<TcStatistics> all = nl.TrafficControl(ifindex, classes: false, out int errno);
        if (errno == 0)
        {
            all.AddRange(nl.TrafficControl(ifindex, classes: true, out errno));
        }

        if (errno != 0)
        {
            ThrowHelper.ThrowSocket("rtnetlink dump of " + device + "'s qdiscs and classes", errno);
        }

        return (IReadOnlyList<TcStatistics>)all;
    });

    /// <summary>
    /// What counts <paramref name="device"/>'s traffic, by handle: its classes (<c>1:10</c>, …), or, where its root qdisc
    /// has none (fq_codel, cake, etf, tbf), that qdisc itself. Empty where nothing counts (noqueue).
    /// </summary>
    public static IReadOnlyDictionary<TcHandle, TcStatistics> ReadClasses(string device, string? netns = null)
    {
        var classes = new Dictionary<TcHandle, TcStatistics>();
        TcStatistics? root = null;
        foreach (TcStatistics s in Read(device, netns))
        {
            if (s.IsClass)
            {
                classes[s.Handle] = s;
            }
            else if (s.Parent == TcHandle.Root && s.Kind != "noqueue")
            {
                root = s;
            }
        }

        if (classes.Count == 0 && root is not null)
        {
            classes[root.Handle] = root;
        }

        return classes;
    }
}
