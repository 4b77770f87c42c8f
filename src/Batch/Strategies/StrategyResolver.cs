namespace Perf.Batch;

/// <summary>
/// The one place a <see cref="PriorityStrategy"/> is chosen: what was asked for, or what Auto picks from the kernel's
/// answers, with the reason in words. <see cref="CreatePath"/> then builds its type.
/// </summary>
internal static class StrategyResolver
{
    internal static PriorityStrategy Resolve(PacketSenderOptions options, PriorityCapabilities caps, out string reason)
    {
        if (!options.PerPacketPriority)
        {
            reason = "per-packet priority is off (PerPacketPriority = false): datagrams take the socket's priority";
            RequireCmsgPriority(options, caps.Strategy, reason);
            return caps.Strategy;
        }

        PriorityStrategy strategy = options.PriorityStrategy;
        reason = "asked for (PriorityStrategy = " + strategy.ToString() + ")";
        if (strategy == PriorityStrategy.Auto)
        {
            strategy = AutoStrategy(options, caps, out reason);
        }

        if (strategy == PriorityStrategy.Cmsg && !caps.PerPacketPriority)
        {
            ThrowHelper.ThrowSocket("sendmsg with a SOL_SOCKET/SO_PRIORITY cmsg", caps.ProbeErrno,
                "This kernel does not accept a per-packet priority (it needs Linux 6.14 or later); use PriorityStrategy Auto, SocketPerPriority, SetsockoptPerRun or MarkAndBpf.");
        }

        if (strategy == PriorityStrategy.MarkAndBpf && !caps.PrivilegedPriorities)
        {
            ThrowHelper.ThrowSocket("sendmsg with a SOL_SOCKET/SO_MARK cmsg", Errno.EPERM,
                "MarkAndBpf puts an SO_MARK cmsg on every datagram, which needs CAP_NET_RAW or CAP_NET_ADMIN; this process has neither. Use SocketPerPriority instead.");
        }

        RequireCmsgPriority(options, strategy, reason);
        if (OneSocket(options) is { } why && strategy == PriorityStrategy.SocketPerPriority)
        {
            ThrowHelper.ThrowArgument(
                why + "; SocketPerPriority sends on a socket per priority. Use Auto, Cmsg, MarkAndBpf or SetsockoptPerRun.",
                nameof(options));
        }

        return strategy;
    }

    // A per-datagram IP_TOS cmsg sets skb->priority to rt_tos2priority(tos) (ip_cmsg_send): only a priority cmsg after
    // it, or the classifier at tc egress, gives the datagram the priority asked for.
    private static void RequireCmsgPriority(PacketSenderOptions options, PriorityStrategy strategy, string reason)
    {
        if (options.PerPacketTrafficClass && (!options.PerPacketPriority || strategy is not (PriorityStrategy.Cmsg or PriorityStrategy.MarkAndBpf)))
        {
            ThrowHelper.ThrowArgument(
                "PerPacketTrafficClass needs the priority in a cmsg after the traffic class (Cmsg, Linux 6.14+) or set by the tc classifier (MarkAndBpf): " +
                "an IP_TOS cmsg also sets the datagram's priority to rt_tos2priority(tos), which no socket priority overrides. The strategy here would be " +
                strategy.ToString() + ": " + reason + ".",
                nameof(options));
        }
    }

    // Auto: the cmsg where the kernel takes it; before 6.14 the fastest fallback that works here: MarkAndBpf when the
    // classifier is on the route's egress device (nearly as fast as cmsg: docs/performance.md), else SocketPerPriority.
    private static PriorityStrategy AutoStrategy(PacketSenderOptions options, PriorityCapabilities caps, out string reason)
    {
        if (caps.PerPacketPriority)
        {
            reason = "the kernel takes the per-packet SO_PRIORITY cmsg (Linux 6.14+)";
            return PriorityStrategy.Cmsg;
        }

        const string NoCmsg = "no per-packet SO_PRIORITY cmsg on this kernel (it came with Linux 6.14)";
        if (options.ClassifierAttached)
        {
            reason = NoCmsg + "; ClassifierAttached says mark_to_priority is on the egress device";
            return PriorityStrategy.MarkAndBpf;
        }

        string why;
        if (!caps.PrivilegedPriorities)
        {
            why = "MarkAndBpf needs CAP_NET_RAW or CAP_NET_ADMIN";
        }
        else if (options.ConnectTo.IsEmpty)
        {
            why = "an unconnected sender has no one route to look for the classifier on (set ClassifierAttached where it is attached)";
        }
        else if (ClassifierRegistry.Check is not { } check)
        {
            why = "Perf.Host is not part of this application, so nothing looks for the classifier on the route (set ClassifierAttached where it is attached)";
        }
        else
        {
            try
            {
                if (check.IsOnRoute(options.ConnectTo, out string report))
                {
                    reason = NoCmsg + "; " + report;
                    return PriorityStrategy.MarkAndBpf;
                }

                why = report;
            }
            catch (PerfSocketException e)
            {
                why = "cannot look for the classifier: " + e.Message;
            }
        }

        if (OneSocket(options) is { } oneSocket)
        {
            // The sender's own socket, whose priority follows each group.
            reason = NoCmsg + "; " + why + "; " + oneSocket + ", so SetsockoptPerRun";
            return PriorityStrategy.SetsockoptPerRun;
        }

        reason = NoCmsg + "; " + why + "; SocketPerPriority needs nothing";
        return PriorityStrategy.SocketPerPriority;
    }

    /// <summary>The path for <paramref name="strategy"/> (already resolved; never Auto unless per-packet priority is off).</summary>
    internal static PriorityPath CreatePath(PriorityStrategy strategy, PacketSenderOptions options) =>
        !options.PerPacketPriority ? new SocketPriorityPath()
        : strategy switch
        {
            PriorityStrategy.Cmsg => new CmsgPriorityPath(),
            PriorityStrategy.MarkAndBpf => new MarkPriorityPath(),
            PriorityStrategy.SocketPerPriority => new SocketPoolPriorityPath(options),
            PriorityStrategy.SetsockoptPerRun => new SetsockoptPriorityPath(),
            _ => new SocketPriorityPath(),
        };

    // Why the sender must send on its own socket alone, or null: the timestamps come back on one socket's error queue,
    // and SO_TXTIME (with etf's drop reports) is set on one socket.
    private static string? OneSocket(PacketSenderOptions options) =>
        options.TxTimestamps ? "TxTimestamps reads the timestamps from one socket's error queue"
        : options.TxTime ? "TxTime sets SO_TXTIME on one socket"
        : null;
}
