using System.Globalization;
using System.Runtime.InteropServices;

using Perf.Batch;

namespace Perf.Host;

/// <summary>
/// Installs, removes and finds the <c>mark_to_priority</c> tc classifier that <see cref="PriorityStrategy.MarkAndBpf"/>
/// relies on: on the egress hook, before the root qdisc classifies, it copies skb->mark to skb->priority. Everything
/// happens in-process, with no tool and no file: the program is a handful of eBPF instructions loaded with
/// bpf(BPF_PROG_LOAD); it is attached with tcx (BPF_PROG_ATTACH, BPF_TCX_EGRESS) where the kernel has it (6.6+), and
/// otherwise as a direct-action cls_bpf filter on a clsact qdisc over rtnetlink, as <c>tc</c> would. Either attachment
/// outlives the process. Attaching needs root (CAP_BPF and CAP_NET_ADMIN). Each method takes an optional network
/// namespace name (one under <c>/run/netns</c>) and works inside it.
/// </summary>
public static class MarkClassifier
{
    /// <summary>The tc filter preference the classifier takes where it is attached as a cls_bpf filter.</summary>
    public const int FilterPreference = 4919;

    // Kernel program names are 15 characters: what clang's "mark_to_priority" function becomes, so a classifier that
    // tc attached from the C source is recognised too.
    private static readonly Classifier s_mark = new("mark_to_priorit", "mark_to_priority", ClassifierProgram.MarkToPriority,
        HostInterop.Bpf.BPF_TCX_EGRESS, HostInterop.Netlink.ClsactEgress, FilterPreference, "egress");

    // The ingress echo (priority_to_mark) at its own preference, so either can be removed alone.
    private static readonly Classifier s_echo = new("priority_to_mar", "priority_to_mark", ClassifierProgram.PriorityToMark,
        HostInterop.Bpf.BPF_TCX_INGRESS, HostInterop.Netlink.ClsactIngress, FilterPreference + 1, "ingress");

    /// <summary>How a classifier is attached.</summary>
    internal enum Mechanism
    {
        /// <summary>tcx where the kernel has it (6.6+), else a cls_bpf filter over rtnetlink.</summary>
        Auto,

        /// <summary>tcx only.</summary>
        Tcx,

        /// <summary>A cls_bpf filter on clsact, over rtnetlink (what tc does; the only way before 6.6).</summary>
        ClsBpf,
    }

    [ThreadStatic]
    private static Mechanism t_mechanism;

    /// <summary>Test seam, per thread: attach by one mechanism only.</summary>
    internal static Mechanism ForceMechanism { get => t_mechanism; set => t_mechanism = value; }

    /// <summary>Where the classifier's C source lies (copied next to the assembly): documentation of its instructions.</summary>
    public static string SourcePath => Path.Combine(AppContext.BaseDirectory, "Bpf", "mark_to_priority.bpf.c");

    /// <summary>
    /// Attaches the classifier to <paramref name="device"/>'s egress hook; nothing happens when it is attached already.
    /// </summary>
    /// <exception cref="PerfSocketException">The device does not exist (ENODEV), the process lacks the privilege (EPERM), or the kernel refused; the message says which.</exception>
    /// <exception cref="ArgumentException">The device or namespace name cannot be one.</exception>
    public static void Attach(string device, string? netns = null) => Attach(s_mark, device, netns);

    /// <summary>Removes the classifier from <paramref name="device"/>, however it was attached (and an empty clsact qdisc).</summary>
    /// <exception cref="PerfSocketException">The device does not exist, or the kernel refused.</exception>
    public static void Detach(string device, string? netns = null) => Detach(s_mark, device, netns);

    /// <summary>Whether the classifier is attached to <paramref name="device"/>'s egress hook, by tcx or as a tc filter.</summary>
    /// <exception cref="PerfSocketException">The device does not exist.</exception>
    public static bool IsAttached(string device, string? netns = null) => Find(s_mark, device, netns).Count > 0;

    /// <summary>
    /// Attaches <c>priority_to_mark</c> to <paramref name="device"/>'s ingress: it copies skb->priority into skb->mark,
    /// so a SO_RCVMARK receiver on loopback sees each datagram's priority on kernels before 6.14.
    /// </summary>
    internal static void AttachPriorityEcho(string device, string? netns = null) => Attach(s_echo, device, netns);

    /// <summary>Removes the ingress echo.</summary>
    internal static void DetachPriorityEcho(string device, string? netns = null) => Detach(s_echo, device, netns);

    /// <summary>Whether the ingress echo is attached to <paramref name="device"/>.</summary>
    internal static bool IsPriorityEchoAttached(string device, string? netns = null) => Find(s_echo, device, netns).Count > 0;

    /// <summary>The device the route to <paramref name="destination"/> leaves by (RTM_GETROUTE), or null when there is no route.</summary>
    public static string? EgressDevice(DatagramAddress destination, string? netns = null) =>
        HostDevices.InNamespace(netns, () =>
        {
            using RouteNetlink nl = RouteNetlink.Open();
            uint ifindex = nl.OutputInterface(in destination, out _);
            return ifindex == 0 ? null : NameOf(ifindex);
        });

    /// <summary>
    /// For a sender using MarkAndBpf: finds the route's egress device for <paramref name="destination"/> and says
    /// whether the classifier is attached there. Returns a sentence for logs.
    /// </summary>
    public static bool Check(DatagramAddress destination, out string report, string? netns = null)
    {
        (bool attached, string text) = HostDevices.InNamespace(netns, () =>
        {
            string? dev = EgressDevice(destination);
            if (dev is null)
            {
                return (false, "no route to " + destination + ": cannot tell which device needs the mark_to_priority classifier");
            }

            List<Attachment> found;
            try
            {
                found = Find(s_mark, dev, netns: null);
            }
            catch (PerfSocketException e)
            {
                return (false, "cannot tell whether mark_to_priority is attached to " + dev + " egress: " + e.Message);
            }

            return found.Count > 0
                ? (true, "mark_to_priority is attached to " + dev + " egress by " + found[0].How + " (the route to " + destination + ")")
                : (false, "mark_to_priority is NOT attached to " + dev + " egress (the route to " + destination + "): priorities will not reach the qdisc; run perfgen bpf-attach --dev " + dev);
        });
        report = text;
        return attached;
    }

    private sealed record Classifier(string ProgramName, string FilterName, HostInterop.BpfInsn[] Program, uint TcxType, uint Parent, int Preference, string Hook);

    private readonly record struct Attachment(bool Tcx, uint ProgramId, uint Preference)
    {
        internal string How => Tcx ? "tcx" : "a tc filter (clsact, pref " + Preference.ToString(CultureInfo.InvariantCulture) + ")";
    }

    private static void Attach(Classifier c, string device, string? netns) => HostDevices.InNamespace(netns, () =>
    {
        int ifindex = HostDevices.IndexOf(device);
        if (Find(c, ifindex).Count > 0)
        {
            return true; // attached already, by either mechanism: attaching twice changes nothing
        }

        using SafeFdHandle program = ClassifierProgram.Load(c.Program, c.ProgramName);
        int errno = Errno.EINVAL;
        if (t_mechanism != Mechanism.ClsBpf && TryAttachTcx(c, ifindex, program, out errno))
        {
            return true;
        }

        // EINVAL: this kernel has no tcx (before 6.6), so attach the way tc does.
        if (t_mechanism == Mechanism.Tcx || errno != Errno.EINVAL)
        {
            ThrowHelper.ThrowSocket("bpf(BPF_PROG_ATTACH, tcx " + c.Hook + ", " + device + ")", errno);
        }

        using RouteNetlink nl = RouteNetlink.Open();
        errno = nl.AddClsact(ifindex);
        if (errno is not (0 or Errno.EEXIST))
        {
            ThrowHelper.ThrowSocket("RTM_NEWQDISC (clsact on " + device + ")", errno);
        }

        errno = nl.AddBpfFilter(ifindex, c.Parent, (uint)c.Preference, program.Fd, c.FilterName);
        if (errno != 0)
        {
            ThrowHelper.ThrowSocket("RTM_NEWTFILTER (bpf " + c.FilterName + " on " + device + " " + c.Hook + ", pref " + c.Preference.ToString(CultureInfo.InvariantCulture) + ")", errno,
                errno == Errno.EEXIST ? "Another filter holds that preference." : null);
        }

        return true;
    });

    private static unsafe bool TryAttachTcx(Classifier c, int ifindex, SafeFdHandle program, out int errno)
    {
        HostInterop.BpfProgAttachAttr attr = default;
        attr.TargetIfindex = (uint)ifindex;
        attr.AttachBpfFd = (uint)program.Fd;
        attr.AttachType = c.TcxType;
        errno = HostInterop.Bpf.Call(HostInterop.Bpf.BPF_PROG_ATTACH, &attr, sizeof(HostInterop.BpfProgAttachAttr)) == 0 ? 0 : Marshal.GetLastPInvokeError();
        return errno == 0;
    }

    private static void Detach(Classifier c, string device, string? netns) => HostDevices.InNamespace(netns, () =>
    {
        int ifindex = HostDevices.IndexOf(device);
        bool filters = false;
        using RouteNetlink nl = RouteNetlink.Open();
        foreach (Attachment a in Find(c, ifindex))
        {
            int errno = a.Tcx ? DetachTcx(c, ifindex, a.ProgramId) : nl.DeleteFilters(ifindex, c.Parent, a.Preference);
            if (errno is not (0 or Errno.ENOENT))
            {
                ThrowHelper.ThrowSocket(a.Tcx ? "bpf(BPF_PROG_DETACH, tcx " + c.Hook + ", " + device + ")" : "RTM_DELTFILTER (" + device + " " + c.Hook + ")", errno);
            }

            filters |= !a.Tcx;
        }

        // The clsact qdisc goes too once no filter is left on it (as tc users expect after removing theirs).
        if (filters && nl.Filters(ifindex, HostInterop.Netlink.ClsactIngress, out _).Count == 0 && nl.Filters(ifindex, HostInterop.Netlink.ClsactEgress, out _).Count == 0)
        {
            nl.DeleteClsact(ifindex);
        }

        return true;
    });

    private static unsafe int DetachTcx(Classifier c, int ifindex, uint id)
    {
        using SafeFdHandle? program = ClassifierProgram.Open(id);
        if (program is null)
        {
            return Marshal.GetLastPInvokeError();
        }

        HostInterop.BpfProgAttachAttr attr = default;
        attr.TargetIfindex = (uint)ifindex;
        attr.AttachBpfFd = (uint)program.Fd;
        attr.AttachType = c.TcxType;
        return HostInterop.Bpf.Call(HostInterop.Bpf.BPF_PROG_DETACH, &attr, sizeof(HostInterop.BpfProgAttachAttr)) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static List<Attachment> Find(Classifier c, string device, string? netns) => HostDevices.InNamespace(netns, () => Find(c, HostDevices.IndexOf(device)));

    // Every attachment of the classifier on the device: tcx programs by name, and cls_bpf filters whose program has the
    // name or whose filter name says so (tc names a filter after the object file it loaded).
    private static unsafe List<Attachment> Find(Classifier c, int ifindex)
    {
        var found = new List<Attachment>();
        uint* ids = stackalloc uint[64];
        HostInterop.BpfProgQueryAttr query = default;
        query.TargetIfindex = (uint)ifindex;
        query.AttachType = c.TcxType;
        query.ProgIds = (ulong)ids;
        query.ProgCnt = 64;
        if (HostInterop.Bpf.Call(HostInterop.Bpf.BPF_PROG_QUERY, &query, sizeof(HostInterop.BpfProgQueryAttr)) == 0)
        {
            for (uint i = 0; i < query.ProgCnt && i < 64; i++)
            {
                if (ClassifierProgram.NameOf(ids[i]) == c.ProgramName)
                {
                    found.Add(new Attachment(Tcx: true, ids[i], 0));
                }
            }
        }
        else if (Marshal.GetLastPInvokeError() == Errno.EPERM)
        {
            ThrowHelper.ThrowSocket("bpf(BPF_PROG_QUERY, tcx " + c.Hook + ")", Errno.EPERM, "Looking for the classifier needs CAP_NET_ADMIN (run as root).");
        }

        using RouteNetlink nl = RouteNetlink.Open();
        foreach (RouteNetlink.Filter f in nl.Filters(ifindex, c.Parent, out _))
        {
            if (f.Kind == "bpf" && ((f.Name?.Contains(c.FilterName, StringComparison.Ordinal) ?? false) || (f.ProgramId != 0 && ClassifierProgram.NameOf(f.ProgramId) == c.ProgramName)))
            {
                found.Add(new Attachment(Tcx: false, f.ProgramId, f.Preference));
            }
        }

        return found;
    }

    private static unsafe string? NameOf(uint ifindex)
    {
        byte* name = stackalloc byte[16]; // IF_NAMESIZE
        return HostInterop.Sys.IfIndexToName(ifindex, name) == null ? null : Marshal.PtrToStringAnsi((nint)name);
    }
}
