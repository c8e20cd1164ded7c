"""Compares what an embedded model printed (examples/embed/main.c, examples/wasm/run.mjs:
"model NAME: class K", "probabilities: p0 p1 ...", "gradcam LAYER HxW (method M):" and the
map's rows) with the full program's `predict --format csv` and `gradcam --raw` files
(--program PREDICT.csv MAP.csv), or with another such output (--like OTHER). The class must
be the same, every probability and map value within 1e-5. Exit 1 with the differences."""
import csv
import sys

TOLERANCE = 1e-5


def parse_embedded(path):
    lines = open(path).read().splitlines()
    out = {'class': None, 'probs': None, 'map': []}
    in_map = False
    for line in lines:
        if line.startswith('model ') and ': class ' in line:
            out['class'] = int(line.rsplit(' ', 1)[1])
        elif line.startswith('probabilities:'):
            out['probs'] = [float(v) for v in line.split()[1:]]
        elif line.startswith('gradcam '):
            in_map = True
            out['layer'] = line.split()[1]
        elif in_map and line.strip():
            out['map'].append([float(v) for v in line.split()])
    if out['class'] is None or out['probs'] is None:
        sys.exit(f'{path}: no "model NAME: class K" and "probabilities:" lines:\n' +
                 '\n'.join(lines))
    return out


def parse_program(predict_csv, map_csv):
    rows = list(csv.reader(open(predict_csv)))
    header, row = rows[0], rows[1]
    first = header.index('probability') + 1
    out = {'class': int(row[header.index('class')]),
           'probs': [float(v) for v in row[first:]], 'map': []}
    out['map'] = read_raw_map(map_csv)
    return out


def read_raw_map(path):
    """The map of `gradcam --raw` (one picture): CSV with the header image,name,row,col,value,
    one line per cell; returned as rows of values."""
    rows = list(csv.DictReader(open(path)))
    if not rows or 'value' not in rows[0]:
        sys.exit(f'{path}: not a gradcam --raw file (header image,name,row,col,value)')
    height = max(int(r['row']) for r in rows) + 1
    width = max(int(r['col']) for r in rows) + 1
    grid = [[0.0] * width for _ in range(height)]
    for r in rows:
        grid[int(r['row'])][int(r['col'])] = float(r['value'])
    return grid


def compare(name, a, b, problems):
    if len(a) != len(b):
        problems.append(f'{name}: {len(a)} values, expected {len(b)}')
        return
    for i, (x, y) in enumerate(zip(a, b)):
        if abs(x - y) > TOLERANCE:
            problems.append(f'{name}[{i}]: {x!r}, expected {y!r}')


def main(argv):
    got = parse_embedded(argv[1])
    if argv[2] == '--program':
        want = parse_program(argv[3], argv[4])
    elif argv[2] == '--like':
        want = parse_embedded(argv[3])
    else:
        sys.exit('usage: same_prediction.py OUTPUT (--program PREDICT.csv MAP.csv | --like OTHER)')
    problems = []
    if got['class'] != want['class']:
        problems.append(f"class {got['class']}, expected {want['class']}")
    compare('probabilities', got['probs'], want['probs'], problems)
    if not got['map']:
        problems.append('no Grad-CAM map')
    compare('map rows', [len(r) for r in got['map']], [len(r) for r in want['map']], problems)
    compare('map', [v for r in got['map'] for v in r], [v for r in want['map'] for v in r],
            problems)
    if problems:
        print(f'{argv[1]}: ' + '; '.join(problems[:10]), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
