using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

using Perf.Batch;

namespace Perf.Host;

/// <summary>
/// A small rtnetlink client for what the mark classifier needs, in-process: the route's egress interface
/// (RTM_GETROUTE), the clsact qdisc, and cls_bpf filters (add, dump, delete), as <c>ip</c> and <c>tc</c> would send them.
/// The socket belongs to the network namespace of the thread that opened it.
/// </summary>
/// <remarks>Setup code, not a hot path: messages are built in a buffer per call. Not thread-safe.</remarks>
internal sealed unsafe partial class RouteNetlink : IDisposable
{
    private readonly SafeFdHandle _fd;
    private readonly byte[] _receive = new byte[64 * 1024];
    private uint _seq;

    private RouteNetlink(SafeFdHandle fd) => _fd = fd;

    internal static RouteNetlink Open()
    {
        int fd = Interop.Sys.Socket(HostInterop.AF_NETLINK, HostInterop.SOCK_RAW | Interop.SOCK_CLOEXEC, HostInterop.NETLINK_ROUTE);
        if (fd < 0)
        {
            ThrowHelper.ThrowSocket("socket(AF_NETLINK, NETLINK_ROUTE)", Marshal.GetLastPInvokeError());
        }

        return new RouteNetlink(new SafeFdHandle(fd));
    }

    /// <summary>One filter on a clsact hook, as a dump reports it.</summary>
    internal readonly record struct Filter(uint Preference, string Kind, uint ProgramId, string? Name);

    /// <summary>The interface index the route to <paramref name="destination"/> leaves by, or 0 (no route).</summary>
    internal uint OutputInterface(in DatagramAddress destination, out int errno)
    {
        bool v6 = destination.AddressFamily == AddressFamily.InterNetworkV6;
        var m = new MessageBuilder(stackalloc byte[256]);
        m.Begin(HostInterop.Netlink.RTM_GETROUTE, HostInterop.Netlink.NLM_F_REQUEST, ++_seq);
        HostInterop.RtMsg rt = default;
        rt.Family = (byte)(v6 ? Interop.AF_INET6 : Interop.AF_INET);
        rt.DstLen = (byte)(v6 ? 128 : 32);
        m.Append(rt);
        Span<byte> address = stackalloc byte[16];
        destination.ToIPAddress().TryWriteBytes(address, out int written);
        m.Attribute(HostInterop.Netlink.RTA_DST, address[..written]);
        uint oif = 0;
        errno = Exchange(m.Finish(), (type, payload) =>
        {
            if (type == HostInterop.Netlink.RTM_NEWROUTE)
            {
                foreach ((ushort t, byte[] v) in Attributes(payload[HostInterop.Netlink.RtMsgSize..]))
                {
                    if (t == HostInterop.Netlink.RTA_OIF && v.Length >= 4)
                    {
                        oif = BinaryPrimitives.ReadUInt32LittleEndian(v);
                    }
                }
            }
        });
        return oif;
    }

    /// <summary>Adds the clsact qdisc to <paramref name="ifindex"/>; 0, or EEXIST when it is there already, or the errno.</summary>
    internal int AddClsact(int ifindex)
    {
        var m = new MessageBuilder(stackalloc byte[128]);
        m.Begin(HostInterop.Netlink.RTM_NEWQDISC, HostInterop.Netlink.NLM_F_REQUEST | HostInterop.Netlink.NLM_F_ACK | HostInterop.Netlink.NLM_F_CREATE | HostInterop.Netlink.NLM_F_EXCL, ++_seq);
        m.Append(TcMsg(ifindex, HostInterop.Netlink.ClsactHandle, HostInterop.Netlink.TC_H_CLSACT, 0));
        m.Attribute(HostInterop.Netlink.TCA_KIND, "clsact\0"u8);
        return Exchange(m.Finish(), null);
    }

    /// <summary>Removes the clsact qdisc from <paramref name="ifindex"/>; 0 or the errno.</summary>
    internal int DeleteClsact(int ifindex)
    {
        var m = new MessageBuilder(stackalloc byte[128]);
        m.Begin(HostInterop.Netlink.RTM_DELQDISC, HostInterop.Netlink.NLM_F_REQUEST | HostInterop.Netlink.NLM_F_ACK, ++_seq);
        m.Append(TcMsg(ifindex, HostInterop.Netlink.ClsactHandle, HostInterop.Netlink.TC_H_CLSACT, 0));
        return Exchange(m.Finish(), null);
    }

    /// <summary>
    /// Adds a direct-action cls_bpf filter running <paramref name="programFd"/> at <paramref name="parent"/> (a clsact hook)
    /// with <paramref name="preference"/>, as <c>tc filter add … bpf direct-action</c> does; 0 or the errno.
    /// </summary>
    internal int AddBpfFilter(int ifindex, uint parent, uint preference, int programFd, string name)
    {
        var m = new MessageBuilder(stackalloc byte[256]);
        m.Begin(HostInterop.Netlink.RTM_NEWTFILTER, HostInterop.Netlink.NLM_F_REQUEST | HostInterop.Netlink.NLM_F_ACK | HostInterop.Netlink.NLM_F_CREATE | HostInterop.Netlink.NLM_F_EXCL, ++_seq);
        m.Append(TcMsg(ifindex, 0, parent, (preference << 16) | HostInterop.Netlink.EthPAllNetworkOrder));
        m.Attribute(HostInterop.Netlink.TCA_KIND, "bpf\0"u8);
        int options = m.BeginNested(HostInterop.Netlink.TCA_OPTIONS);
        m.Attribute(HostInterop.Netlink.TCA_BPF_FD, (uint)programFd);
        Span<byte> text = stackalloc byte[name.Length + 1];
        System.Text.Encoding.ASCII.GetBytes(name, text);
        text[^1] = 0;
        m.Attribute(HostInterop.Netlink.TCA_BPF_NAME, text);
        m.Attribute(HostInterop.Netlink.TCA_BPF_FLAGS, HostInterop.Netlink.TCA_BPF_FLAG_ACT_DIRECT);
        m.EndNested(options);
        return Exchange(m.Finish(), null);
    }

    /// <summary>Removes every filter at <paramref name="preference"/> on hook <paramref name="parent"/>; 0 or the errno.</summary>
    internal int DeleteFilters(int ifindex, uint parent, uint preference)
    {
        var m = new MessageBuilder(stackalloc byte[128]);
        m.Begin(HostInterop.Netlink.RTM_DELTFILTER, HostInterop.Netlink.NLM_F_REQUEST | HostInterop.Netlink.NLM_F_ACK, ++_seq);
        m.Append(TcMsg(ifindex, 0, parent, preference << 16));
        return Exchange(m.Finish(), null);
    }

    /// <summary>The filters on hook <paramref name="parent"/> of <paramref name="ifindex"/> (none without clsact).</summary>
    internal List<Filter> Filters(int ifindex, uint parent, out int errno)
    {
        var filters = new List<Filter>();
        var m = new MessageBuilder(stackalloc byte[128]);
        m.Begin(HostInterop.Netlink.RTM_GETTFILTER, HostInterop.Netlink.NLM_F_REQUEST | HostInterop.Netlink.NLM_F_DUMP, ++_seq);
        m.Append(TcMsg(ifindex, 0, parent, 0));
        errno = Exchange(m.Finish(), (type, payload) =>
        {
            if (type != HostInterop.Netlink.RTM_NEWTFILTER || payload.Length < HostInterop.Netlink.TcMsgSize)
            {
                return;
            }

            uint info = BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]);
            string kind = string.Empty;
            uint id = 0;
            string? name = null;
            bool options = false;
            foreach ((ushort t, byte[] v) in Attributes(payload[HostInterop.Netlink.TcMsgSize..]))
            {
                if (t == HostInterop.Netlink.TCA_KIND)
                {
                    kind = CString(v);
                }
                else if ((t & ~HostInterop.Netlink.NLA_F_NESTED) == HostInterop.Netlink.TCA_OPTIONS)
                {
                    options = true;
                    foreach ((ushort o, byte[] ov) in Attributes(v))
                    {
                        if (o == HostInterop.Netlink.TCA_BPF_ID && ov.Length >= 4)
                        {
                            id = BinaryPrimitives.ReadUInt32LittleEndian(ov);
                        }
                        else if (o == HostInterop.Netlink.TCA_BPF_NAME)
                        {
                            name = CString(ov);
                        }
                    }
                }
            }

            // A dump also reports each preference's chain head, with no options: only real filters count.
            if (options)
            {
                filters.Add(new Filter(info >> 16, kind, id, name));
            }
        });
        if (errno is Errno.EINVAL or Errno.ENOENT)
        {
            errno = 0; // no clsact on the device: no filters
        }

        return filters;
    }

    private static HostInterop.TcMsg TcMsg(int ifindex, uint handle, uint parent, uint info)
    {
        HostInterop.TcMsg tc = default;
        tc.Family = 0; // AF_UNSPEC
        tc.Ifindex = ifindex;
        tc.Handle = handle;
        tc.Parent = parent;
        tc.Info = info;
        return tc;
    }

    private static string CString(ReadOnlySpan<byte> v)
    {
        int end = v.IndexOf((byte)0);
        return System.Text.Encoding.ASCII.GetString(end < 0 ? v : v[..end]);
    }

    private delegate void MessageHandler(ushort type, ReadOnlySpan<byte> payload);

    // Sends one request and reads the replies: an ACK (NLMSG_ERROR with error 0), an error, or a dump ending in
    // NLMSG_DONE. Returns 0 or the errno the kernel answered.
    private int Exchange(ReadOnlySpan<byte> request, MessageHandler? handler)
    {
        fixed (byte* p = request)
        {
            if (HostInterop.Sys.Send(_fd, p, (nuint)request.Length, 0) < 0)
            {
                return Marshal.GetLastPInvokeError();
            }
        }

        uint seq = BinaryPrimitives.ReadUInt32LittleEndian(request[8..]);
        bool dump = (BinaryPrimitives.ReadUInt16LittleEndian(request[6..]) & HostInterop.Netlink.NLM_F_DUMP) == HostInterop.Netlink.NLM_F_DUMP;
        bool ack = (BinaryPrimitives.ReadUInt16LittleEndian(request[6..]) & HostInterop.Netlink.NLM_F_ACK) != 0;
        while (true)
        {
            nint n;
            fixed (byte* buf = _receive)
            {
                n = HostInterop.Sys.Recv(_fd, buf, (nuint)_receive.Length, 0);
            }

            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                return errno;
            }

            int done = Consume(new ReadOnlySpan<byte>(_receive, 0, (int)n), seq, dump || ack, handler);
            if (done != KeepReading)
            {
                return done;
            }
        }
    }

    private const int KeepReading = -1;

    // The netlink messages of one recv: the request's end (0, or the errno of NLMSG_ERROR), or KeepReading where more
    // is to come (a dump before NLMSG_DONE, or an ACK not yet seen).
    private static int Consume(ReadOnlySpan<byte> data, uint seq, bool multi, MessageHandler? handler)
    {
        while (data.Length >= HostInterop.Netlink.NlMsgHdrSize)
        {
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
            uint replySeq = BinaryPrimitives.ReadUInt32LittleEndian(data[8..]);
            if (len < HostInterop.Netlink.NlMsgHdrSize || len > data.Length)
            {
                return Errno.EIO;
            }

            ReadOnlySpan<byte> payload = data[HostInterop.Netlink.NlMsgHdrSize..len];
            data = data[Math.Min(data.Length, HostInterop.Netlink.Align(len))..];
            if (replySeq != seq)
            {
                continue; // a stale reply to an earlier request
            }

            if (type == HostInterop.Netlink.NLMSG_DONE)
            {
                return 0;
            }

            if (type == HostInterop.Netlink.NLMSG_ERROR)
            {
                return -BinaryPrimitives.ReadInt32LittleEndian(payload); // 0: the ACK
            }

            handler?.Invoke(type, payload);
            if (!multi)
            {
                return 0; // a plain request answered by one message (RTM_GETROUTE)
            }
        }

        return KeepReading;
    }

    /// <summary>The rtattrs in <paramref name="data"/>, each value copied out.</summary>
    internal static List<(ushort Type, byte[] Value)> Attributes(ReadOnlySpan<byte> data)
    {
        var list = new List<(ushort, byte[])>();
        while (data.Length >= 4)
        {
            int len = BinaryPrimitives.ReadUInt16LittleEndian(data);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(data[2..]);
            if (len < 4 || len > data.Length)
            {
                break;
            }

            list.Add((type, data[4..len].ToArray()));
            data = data[Math.Min(data.Length, HostInterop.Netlink.Align(len))..];
        }

        return list;
    }

    public void Dispose() => _fd.Dispose();

    /// <summary>Builds one netlink message in a caller's buffer: header, family struct, attributes (nested ones too).</summary>
    private ref struct MessageBuilder
    {
        private readonly Span<byte> _buffer;
        private int _length;

        internal MessageBuilder(Span<byte> buffer)
        {
            _buffer = buffer;
            _buffer.Clear();
            _length = 0;
        }

        internal void Begin(ushort type, ushort flags, uint seq)
        {
            HostInterop.NlMsgHdr h = default;
            h.Type = type;
            h.Flags = flags;
            h.Seq = seq;
            Append(h);
        }

        internal void Append<T>(T value) where T : unmanaged
        {
            MemoryMarshal.Write(_buffer[_length..], in value);
            _length = HostInterop.Netlink.Align(_length + sizeof(T));
        }

        internal void Attribute(ushort type, scoped ReadOnlySpan<byte> value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_buffer[_length..], (ushort)(4 + value.Length));
            BinaryPrimitives.WriteUInt16LittleEndian(_buffer[(_length + 2)..], type);
            value.CopyTo(_buffer[(_length + 4)..]);
            _length = HostInterop.Netlink.Align(_length + 4 + value.Length);
        }

        internal void Attribute(ushort type, uint value)
        {
            Span<byte> v = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(v, value);
            Attribute(type, v);
        }

        internal int BeginNested(ushort type)
        {
            int start = _length;
            BinaryPrimitives.WriteUInt16LittleEndian(_buffer[(_length + 2)..], (ushort)(type | HostInterop.Netlink.NLA_F_NESTED));
            _length += 4;
            return start;
        }

        internal void EndNested(int start) => BinaryPrimitives.WriteUInt16LittleEndian(_buffer[start..], (ushort)(_length - start));

        internal ReadOnlySpan<byte> Finish()
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer, (uint)_length);
            return _buffer[.._length];
        }
    }
}
