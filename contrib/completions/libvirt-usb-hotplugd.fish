# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_libvirt_usb_hotplugd_global_optspecs
    string join \n root= libvirt-uri= state-dir= data-dir= v/verbose q/quiet h/help V/version
end

function __fish_libvirt_usb_hotplugd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_libvirt_usb_hotplugd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_libvirt_usb_hotplugd_using_subcommand
    set -l cmd (__fish_libvirt_usb_hotplugd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -s V -l version -d 'Print version'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "list" -d 'List the USB devices with all their udev properties and tags, as udevadm shows them'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "run" -d 'Run the daemon (the same as giving CONFIG alone), or one reconcile with --once'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "explain" -d 'Say for every device which machines match it (and why the others do not), where it goes, the hostdevs of every configured machine, and the actions a reconcile would take now'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "status" -d 'Show what the running daemon is doing: placements, holds, failing actions and their retry (exit 0; 3 when no daemon runs)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "detach" -d 'Detach a device now (if attached) and hold it: not attached again until it is plugged in again or released with `attach` (exit 3 when no daemon runs)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "attach" -d 'Release a device\'s hold, so that it is attached by the rules again; with --to, give it to that running machine until it is unplugged (exit 3 when no daemon runs)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_needs_command" -a "check" -d 'Validate the configuration and its machines.d folder, and print a summary (exit 0 or 1)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -l json -d 'Print a JSON array instead'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand list" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l once -d 'Reconcile once and exit: 0 when every action succeeded, 2 when some failed'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l dry-run -d 'Plan and print (or log), change nothing'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -l json -d 'With --once --dry-run: print the report of `explain --json`'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand run" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -l json -d 'Print one JSON object instead'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand explain" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -l json -d 'Print the state as JSON instead'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand status" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand detach" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -l to -d 'The running machine to give it to, whatever the rules say' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand attach" -s h -l help -d 'Print help'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -l root -d 'Prefix under which /sys and /run/udev are read (a fixture tree in tests)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -l libvirt-uri -d 'The libvirt connection URI; overrides `libvirt-uri` of the config' -r
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -l state-dir -d 'Where the running daemon keeps its lock, its status and its holds (gone at reboot)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -l data-dir -d 'Where the daemon records the machines it attached devices to (kept across reboots)' -r -F
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -s v -l verbose -d 'Log debug messages (every device found, with its properties)'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -s q -l quiet -d 'Log only warnings and errors'
complete -c libvirt-usb-hotplugd -n "__fish_libvirt_usb_hotplugd_using_subcommand check" -s h -l help -d 'Print help'
