namespace Perf.Tools;

// Shared by perfgen and perf-gateway (linked into both): an output that cannot be written is bad input, found before
// the first datagram moves.
internal static class OutputFile
{
    /// <summary>
    /// Makes sure <paramref name="path"/> can be written before anything runs (a report lost after the run is worse
    /// than a refusal before it). Null and "-" (stdout) pass. Leaves no file behind that was not there.
    /// </summary>
    /// <exception cref="FormatException">The folder is missing or the file cannot be written; says which.</exception>
    internal static void CheckWritable(string? path, string option)
    {
        if (path is null || path == "-")
        {
            return;
        }

        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
        {
            throw new FormatException(option + " " + path + ": the folder " + dir + " does not exist; nothing was sent");
        }

        if (Directory.Exists(full))
        {
            throw new FormatException(option + " " + path + ": is a folder; give a file name; nothing was sent");
        }

        bool existed = File.Exists(full);
        try
        {
            using (var fs = new FileStream(full, FileMode.OpenOrCreate, FileAccess.Write))
            {
                ProbeWrite(fs);
            }

            if (!existed)
            {
                File.Delete(full);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FormatException(option + " " + path + ": cannot be written (" + e.Message + "); nothing was sent");
        }
    }

    // Opening is not enough: /proc/version opens for writing as root and fails only at the write (EIO). One byte is
    // written at the end and taken back, so a file that exists keeps its contents until the report replaces them.
    private static void ProbeWrite(FileStream fs)
    {
        if (!fs.CanSeek)
        {
            return; // a pipe or terminal: writing now would be output
        }

        long length = fs.Length;
        fs.Seek(length, SeekOrigin.Begin);
        fs.WriteByte((byte)'\n');
        fs.Flush(flushToDisk: false);
        try
        {
            fs.SetLength(length);
        }
        catch (IOException)
        {
            // A device such as /dev/null takes the byte and cannot be truncated: nothing to take back.
        }
    }
}
