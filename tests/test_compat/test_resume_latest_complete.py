"""cim_mm.compat.resume_latest_complete: mmengine's find_latest_checkpoint,
where the runner calls it, gives upstream's answer for every pointer it does
not check (remote, folder, legacy torch file)."""
import mmengine.runner.runner as runner_module
import torch

from cim_mm.compat import patch_resume_latest_complete


def test_unchecked_pointers_get_upstreams_answer(tmp_path):
    patch_resume_latest_complete()
    find = runner_module.find_latest_checkpoint
    upstream = find.__wrapped__  # mmengine's own function
    folder = tmp_path / 'iter_2.pth'
    (folder / 'checkpoint').mkdir(parents=True)
    legacy = tmp_path / 'iter_4.pth'
    torch.save({'w': torch.ones(1)}, legacy,
               _use_new_zipfile_serialization=False)
    for target in (str(folder), str(legacy), 's3://bucket/work/iter_8.pth'):
        (tmp_path / 'last_checkpoint').write_text(target + '\n')
        assert find(str(tmp_path)) == upstream(str(tmp_path)) == target
