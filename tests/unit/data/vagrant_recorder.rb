# Evaluates a Vagrantfile without Vagrant: every configuration call is recorded and printed as JSON,
# so tests can check what the Vagrantfile asks for (machines, addresses, sizes, provisioners).
# Usage: ruby vagrant_recorder.rb path/to/Vagrantfile
require "json"

class Recorder
  attr_reader :calls

  def initialize
    @calls = []
  end

  def method_missing(name, *args, **kw, &blk)
    entry = { "call" => name.to_s, "args" => args, "kw" => kw.transform_keys(&:to_s) }
    @calls << entry
    sub = Recorder.new
    entry["block"] = sub.calls
    blk&.call(sub)
    # `config.vm` and the like: attribute reads return a recorder for the chained call
    name.to_s.end_with?("=") ? args.first : sub
  end

  def respond_to_missing?(*)
    true
  end
end

module Vagrant
  def self.configure(version)
    raise "unexpected Vagrant config version #{version}" unless version == "2"

    root = Recorder.new
    yield root
    puts JSON.generate(root.calls)
  end
end

load ARGV.fetch(0)
