import os.path as osp
from setuptools import find_packages, setup


def readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def version() -> str:
    scope: dict = {}
    with open(osp.join('mmcls_geda', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(path: str) -> list:
    with open(path, encoding='utf-8') as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.strip() and not line.startswith(('#', '-'))
        ]


setup(
    name='mmcls_geda',
    version=version(),
    description='GEDA data-subset selection for OpenMMLab mmcls 0.x',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'benchmarks')),
    python_requires='>=3.8',
    install_requires=parse_requirements('requirements/runtime.txt') +
    ['mmcv>=1.4.2,<1.8.0', 'torch', 'torchvision'],
    extras_require={'tests': parse_requirements('requirements/tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)
