using Perf.Batch;

namespace Perf.Host;

/// <summary>Network devices by name, and work done inside a named network namespace: shared by the host tools.</summary>
internal static class HostDevices
{
    /// <summary>The interface index of <paramref name="device"/> in the calling thread's namespace.</summary>
    /// <exception cref="PerfSocketException">ENODEV: there is no such device here.</exception>
    internal static unsafe int IndexOf(string device)
    {
        ValidateDevice(device);
        Span<byte> name = stackalloc byte[device.Length + 1];
        System.Text.Encoding.ASCII.GetBytes(device, name);
        name[^1] = 0;
        uint index;
        fixed (byte* p = name)
        {
            index = HostInterop.Sys.IfNameToIndex(p);
        }

        if (index == 0)
        {
            ThrowHelper.ThrowSocket("if_nametoindex(" + device + ")", Errno.ENODEV, "There is no network device '" + device + "' here.");
        }

        return (int)index;
    }

    /// <summary>Runs <paramref name="body"/> in <paramref name="netns"/> (a name under /run/netns), or here when null.</summary>
    internal static T InNamespace<T>(string? netns, Func<T> body)
    {
        if (netns is null)
        {
            return body();
        }

        if (netns.Length == 0 || !netns.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException("'" + netns + "' is not a network namespace name.", nameof(netns));
        }

        // Netlink sockets, interface indexes and tcx attachments all belong to the caller's network namespace.
        return NetworkNamespace.Run(netns, body);
    }

    internal static void ValidateDevice(string device)
    {
        if (string.IsNullOrEmpty(device) || device.Length > 15 || !device.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@'))
        {
            throw new ArgumentException("'" + device + "' is not a network device name.", nameof(device));
        }
    }
}
