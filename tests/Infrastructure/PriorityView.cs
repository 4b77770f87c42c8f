using System.Net;
using Perf.Batch;
using Perf.Host;

[assembly: AssemblyFixture(typeof(Perf.Tests.Infrastructure.PriorityViewFixture))]

namespace Perf.Tests.Infrastructure;

/// <summary>
/// How a loopback receiver sees each datagram's priority on this kernel. 6.14+ reports it (SO_RCVPRIORITY). Before
/// that, as root, the priority_to_mark echo on lo's clsact ingress copies it into the mark, which
/// SO_RCVMARK (5.19+) reports: the per-packet check still runs, through the mark. Failing both, tests that are about
/// priorities skip and say why; the rest still check bytes, count and order.
/// </summary>
internal static class PriorityView
{
    private static readonly object s_gate = new();
    private static bool s_ready;
    private static bool s_attachedHere;

    internal static bool KernelReportsPriority { get; private set; }

    /// <summary>The echo carries priorities in the mark (a kernel before 6.14).</summary>
    internal static bool ThroughMark { get; private set; }

    internal static bool Available => KernelReportsPriority || ThroughMark;

    internal static string Reason { get; private set; } = "";

    internal static void Ensure()
    {
        lock (s_gate)
        {
            if (s_ready)
            {
                return;
            }

            s_ready = true;
            using (PacketReceiver probe = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), BatchSize = 1, MaxDatagramSize = 64 }))
            {
                KernelReportsPriority = probe.ReportsPriority;
            }

            if (KernelReportsPriority)
            {
                return;
            }

            const string Why = "this kernel has no SO_RCVPRIORITY (Linux 6.14+), so a receiver cannot see priorities";
            if (!HostTools.IsRoot)
            {
                Reason = Why + ", and the priority_to_mark echo on lo needs root";
                return;
            }

            try
            {
                if (!MarkClassifier.IsPriorityEchoAttached("lo"))
                {
                    MarkClassifier.AttachPriorityEcho("lo");
                    s_attachedHere = true;
                }

                ThroughMark = true;
            }
            catch (PerfSocketException e)
            {
                Reason = Why + ", and attaching the priority_to_mark echo on lo failed: " + e.Message;
            }
        }
    }

    internal static void Release()
    {
        lock (s_gate)
        {
            if (s_attachedHere)
            {
                MarkClassifier.DetachPriorityEcho("lo");
                s_attachedHere = false;
            }
        }
    }

    /// <summary>Skips a test whose point is the received priority where this kernel cannot show it.</summary>
    internal static void Require()
    {
        Ensure();
        Assert.SkipUnless(Available, Reason);
    }

    /// <summary>The priority <paramref name="d"/> arrived with, through SO_RCVPRIORITY or the echoed mark.</summary>
    internal static bool TryGet(in ReceivedDatagram d, out uint priority)
    {
        if (d.HasPriority)
        {
            priority = d.Priority;
            return true;
        }

        if (ThroughMark && d.HasMark)
        {
            priority = d.Mark;
            return true;
        }

        priority = 0;
        return false;
    }

    /// <summary>The received priority, failing the test where the kernel gave none.</summary>
    internal static uint Of(in ReceivedDatagram d)
    {
        Assert.True(TryGet(in d, out uint p), "the receiver reported no priority (" + (Available ? "expected one" : Reason) + ")");
        return p;
    }
}

/// <summary>Attaches the echo once for the whole run (before any perfgen child starts) and removes it at the end.</summary>
public sealed class PriorityViewFixture : IDisposable
{
    public PriorityViewFixture() => PriorityView.Ensure();

    public void Dispose() => PriorityView.Release();
}
